"""Commands that set a standing state (a reaction on a message): applied once per change, on
SQLite and PostgreSQL, also when copies of one change race each other."""

from __future__ import annotations

import asyncio

from hashcart import OutcomeCode, StateChange
from hashcart.testing import RunningHashcart, eventually
from tests.core.fakes import FakePlatform, command

KEY = "fake:reaction:m1:u1"


def stated(action: str, present: bool, key: str = KEY, **kwargs: object):  # type: ignore[no-untyped-def]
    return command(action, event_id=key, state=StateChange(key, present), **kwargs)


async def quantity(hc: RunningHashcart) -> int:
    cart = await hc.cart("fake", "u1") or []
    return sum(line["quantity"] for line in cart)


async def test_a_replayed_add_or_remove_changes_nothing_and_taking_back_then_again_counts(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    await hc.link("alice", "fake", "u1")
    submit = hc.hashcart.submit
    codes = [
        (await submit(stated(action, present))).code
        for action, present in [
            ("add", True),
            ("add", True),  # a replay of the add
            ("remove", False),
            ("remove", False),  # a replay of the remove
            ("add", True),  # added again: counts again
        ]
    ]
    assert codes == [
        OutcomeCode.ADDED,
        OutcomeCode.DUPLICATE,
        OutcomeCode.REMOVED,
        OutcomeCode.DUPLICATE,
        OutcomeCode.ADDED,
    ]
    assert await quantity(hc) == 1
    await eventually(lambda: len(fake_platform.sent) == 3)
    await asyncio.sleep(0.2)
    assert len(fake_platform.sent) == 3, "a duplicate is not answered"
    keys = [reply.event_key for reply in fake_platform.sent]
    assert keys == [f"fake:{KEY}#1", f"fake:{KEY}#2", f"fake:{KEY}#3"]
    assert await hc.hashcart.standing_states("fake:reaction:m1:") == [KEY]


async def test_taking_back_what_never_stood_changes_nothing(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    await hc.link("alice", "fake", "u1")
    await hc.hashcart.submit(command(event_id="plain-add"))  # in the cart by other means
    outcome = await hc.hashcart.submit(stated("remove", False))
    assert outcome.code is OutcomeCode.DUPLICATE and outcome.silent
    assert await quantity(hc) == 1
    assert await hc.hashcart.standing_states("fake:") == []


async def test_concurrent_copies_of_each_change_apply_once(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    """Gathered duplicate submits of one add, on many keys at once: each key flips once."""
    await hc.link("alice", "fake", "u1")
    keys = [f"fake:reaction:m{index}:u1" for index in range(10)]
    copies = [stated("add", True, key) for key in keys for _ in range(8)]
    outcomes = await asyncio.gather(*(hc.hashcart.submit(c) for c in copies))
    assert sum(o.code is not OutcomeCode.DUPLICATE for o in outcomes) == len(keys)
    assert await quantity(hc) == len(keys)

    removals = [stated("remove", False, key) for key in keys for _ in range(8)]
    outcomes = await asyncio.gather(*(hc.hashcart.submit(c) for c in removals))
    assert sum(o.code is not OutcomeCode.DUPLICATE for o in outcomes) == len(keys)
    assert await quantity(hc) == 0
    await eventually(lambda: len(fake_platform.sent) == 2 * len(keys))
    assert await hc.hashcart.standing_states("fake:reaction:") == []


async def test_a_state_prefix_is_matched_literally(hc: RunningHashcart):
    await hc.link("alice", "fake", "u1")
    await hc.hashcart.submit(stated("add", True, "fake:a_b:1"))
    await hc.hashcart.submit(stated("add", True, "fake:axb:1"))
    assert await hc.hashcart.standing_states("fake:a_b:") == ["fake:a_b:1"]
    assert await hc.hashcart.standing_states("fake:a%") == []


async def test_a_pending_add_of_a_state_applies_once_after_linking(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    """The add waits for the link; linking applies it, and the stood state keeps a replay out."""
    first = await hc.hashcart.submit(stated("add", True))
    assert first.code is OutcomeCode.LINK_NEEDED
    await hc.link("alice", "fake", "u1")
    assert await quantity(hc) == 1
    assert (await hc.hashcart.submit(stated("add", True))).code is OutcomeCode.DUPLICATE
    assert await quantity(hc) == 1
