"""Faults the core handles itself: poison commands are parked, leases move between nodes."""

from __future__ import annotations

import asyncio

import pytest

from hashcart import CartCommand, OutcomeCode, Unavailable, hookimpl
from hashcart.leases import Leases
from hashcart.store import create_engine, upgrade
from hashcart.testing import RunningHashcart, eventually
from tests.core.fakes import FakePlatform, command


class Poison:
    """A policy plugin that breaks on one particular event, as a buggy plugin would."""

    @hookimpl(tryfirst=True)
    def hashcart_check_command(self, command: CartCommand) -> None:
        if command.event_id == "poison":
            raise RuntimeError("this event always breaks")


async def test_poison_event_is_parked_after_bounded_tries(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    hc.hashcart.plugins.register([Poison()])
    await hc.link("alice", "fake", "u1")
    for _ in range(2):
        with pytest.raises(Unavailable):
            await hc.hashcart.submit(command(event_id="poison"))
    parked = await hc.hashcart.submit(command(event_id="poison"))
    assert parked.code is OutcomeCode.FAILED
    again = await hc.hashcart.submit(command(event_id="poison"))
    assert again.code is OutcomeCode.DUPLICATE
    # The rest flows, also when it arrives in the same group as the poison.
    outcomes = await asyncio.gather(
        hc.hashcart.submit(command(event_id="poison")),
        *(hc.hashcart.submit(command(event_id=f"ok{i}")) for i in range(5)),
    )
    assert [o.code for o in outcomes[1:]] == [OutcomeCode.ADDED] + [OutcomeCode.INCREASED] * 4
    failed = [e for e in await hc.events() if e["outcome"] == "failed"]
    assert len(failed) == 1 and "this event always breaks" in failed[0]["detail"]
    await eventually(lambda: any(r.outcome.code is OutcomeCode.FAILED for r in fake_platform.sent))


async def test_a_lease_has_one_holder_and_moves_when_it_expires(database_url: str):
    await upgrade(database_url)
    engine = create_engine(database_url)
    try:
        first, second = Leases(engine, "node-a"), Leases(engine, "node-b")
        assert await first.acquire("stream", ttl=0.5)
        assert not await second.acquire("stream", ttl=0.5)
        assert await first.acquire("stream", ttl=0.5)  # renewing
        await asyncio.sleep(0.6)
        assert await second.acquire("stream", ttl=5)
        assert not await first.acquire("stream", ttl=5)
        await second.release("stream")
        assert await first.acquire("stream", ttl=5)
    finally:
        await engine.dispose()


async def test_exclusive_work_runs_on_one_node_and_is_taken_over(database_url: str):
    await upgrade(database_url)
    engine = create_engine(database_url)
    running: list[str] = []

    def worker(name: str):  # type: ignore[no-untyped-def]
        async def work() -> None:
            running.append(name)
            await asyncio.Event().wait()

        return work

    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    node_a = asyncio.create_task(
        Leases(engine, "a").run_exclusively("x", worker("a"), ttl=0.6, stop=stop_a)
    )
    await eventually(lambda: running == ["a"])
    node_b = asyncio.create_task(
        Leases(engine, "b").run_exclusively("x", worker("b"), ttl=0.6, stop=stop_b)
    )
    await asyncio.sleep(0.8)
    assert running == ["a"], "two nodes ran the exclusive work at once"
    stop_a.set()  # node a stops and hands the lease back: b takes it over
    await node_a
    await eventually(lambda: running == ["a", "b"], timeout=5)
    stop_b.set()
    await node_b

    # A node that dies stops renewing without handing anything back: the lease runs out.
    running.clear()
    assert await Leases(engine, "dead").acquire("y", ttl=0.6)
    stop_c = asyncio.Event()
    node_c = asyncio.create_task(
        Leases(engine, "c").run_exclusively("y", worker("c"), ttl=0.6, stop=stop_c)
    )
    await asyncio.sleep(0.3)
    assert running == [], "the work started while the dead node's lease was still valid"
    await eventually(lambda: running == ["c"], timeout=5)
    stop_c.set()
    await node_c
    await engine.dispose()


class CatalogAway:
    """The product lookup fails as an unreachable database does, `times` times."""

    def __init__(self, times: int) -> None:
        self.times = times

    @hookimpl(tryfirst=True)
    def hashcart_lookup_product(self) -> None:
        if self.times:
            self.times -= 1
            raise ConnectionResetError("connection was closed in the middle of operation")


async def test_a_lookup_during_an_outage_is_retryable_not_a_store_refusal(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    hc.hashcart.plugins.register([CatalogAway(times=1)])
    await hc.link("alice", "fake", "u1")
    with pytest.raises(Unavailable):
        await hc.hashcart.submit(command(event_id="during-outage"))
    assert await hc.events() == []  # nothing recorded: the redelivery is applied
    again = await hc.hashcart.submit(command(event_id="during-outage"))
    assert again.code is OutcomeCode.ADDED
    await eventually(lambda: len(fake_platform.sent) == 1)
