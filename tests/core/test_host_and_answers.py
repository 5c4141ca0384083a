"""The plugin host API: `Hashcart` is a `hashcart.Host`, and HTTP answers are classified once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

import hashcart
from hashcart import Host, RetryLater, SendRefused, Verdict, classify_answer, retry_after
from hashcart.testing import RunningHashcart
from tests.core.fakes import command


async def test_a_running_hashcart_is_a_host_and_waits_for_its_spawned_tasks(
    hc: RunningHashcart,
) -> None:
    host: Host = hc.hashcart
    assert host.money(1999, "USD", "en") == "$19.99"
    finished = asyncio.Event()

    async def slow() -> int:
        await asyncio.sleep(0.1)
        finished.set()
        return 7

    task = host.spawn(slow())
    await hc.hashcart.stop()
    assert finished.is_set() and task.result() == 7


def test_retry_after_reads_seconds_and_http_dates_and_bounds_them() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    in_five_minutes = format_datetime(datetime(2026, 1, 1, 12, 5, 0, tzinfo=UTC), usegmt=True)
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({"retry-after": "2.5"}) == 2.5
    assert retry_after({"Retry-After": in_five_minutes}, now=now) == 300.0
    assert retry_after({"Retry-After": "Mon, 01 Jan 2024 00:00:00 GMT"}, now=now) == 0.0
    assert retry_after({"Retry-After": "-3"}) == 0.0
    assert retry_after({"Retry-After": "999999999"}, maximum=60.0) == 60.0
    assert retry_after({"Retry-After": ["4", "9"]}) == 4.0
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({"Retry-After": "nan"}) is None
    assert retry_after({}) is None and retry_after(None) is None


def test_classify_answer_sorts_statuses_into_ok_retry_and_refused() -> None:
    assert classify_answer(200).verdict is Verdict.OK
    assert classify_answer(302).verdict is Verdict.OK
    busy = classify_answer(429, {"Retry-After": "3"})
    assert busy.verdict is Verdict.RETRY and busy.retry_after == 3.0
    down = classify_answer(503)
    assert down.verdict is Verdict.RETRY and down.retry_after is None
    assert classify_answer(404).verdict is Verdict.REFUSED
    assert classify_answer(403, {"Retry-After": "3"}).retry_after is None


def test_an_answer_becomes_the_reply_senders_exception() -> None:
    refused = classify_answer(403).send_error("no")
    assert isinstance(refused, SendRefused)
    later = classify_answer(429).send_error("busy", default_wait=1.0)
    assert isinstance(later, RetryLater) and later.retry_after == 1.0
    asked = classify_answer(429, {"Retry-After": "9"}).send_error("busy", default_wait=1.0)
    assert isinstance(asked, RetryLater) and asked.retry_after == 9.0


def test_the_host_api_is_exported() -> None:
    assert "Host" in hashcart.__all__ and "KeyValue" in hashcart.__all__


async def test_a_platforms_reply_wording_is_called_only_for_its_own_commands(
    hc: RunningHashcart,
) -> None:
    class Elsewhere:
        @hashcart.hookimpl
        @hashcart.for_platform("elsewhere")
        def hashcart_format_reply(self, command: hashcart.CartCommand) -> hashcart.ReplyContent:
            return hashcart.ReplyContent(f"elsewhere words for {command.platform}")

    plugins = hc.hashcart.plugins
    plugins.register([Elsewhere()])
    outcome = hashcart.Outcome(hashcart.OutcomeCode.HELP)

    async def worded(platform: str) -> str:
        ours = replace(command(), platform=platform)
        content = await plugins.first(
            "hashcart_format_reply",
            command=ours,
            outcome=outcome,
            locale="en",
            hashcart=hc.hashcart,
        )
        return str(content.text)

    assert "elsewhere" not in await worded("fake")  # the core's default
    assert await worded("elsewhere") == "elsewhere words for elsewhere"


async def test_tracked_tasks_drain_waits_for_the_quick_and_cancels_the_late() -> None:
    tasks = hashcart.TrackedTasks()
    quick_done = asyncio.Event()

    async def quick() -> None:
        await asyncio.sleep(0.01)
        quick_done.set()

    quick_task = tasks.spawn(quick())
    slow_task = tasks.spawn(asyncio.sleep(60))
    assert len(tasks) == 2
    assert await tasks.drain(0.2) == 1
    assert quick_done.is_set() and quick_task.done()
    assert slow_task.cancelled() and len(tasks) == 0
    assert await tasks.drain(0.2) == 0


def test_backoff_delay_doubles_up_to_the_cap_with_jitter() -> None:
    delays = [hashcart.backoff_delay(n, first=1.0, cap=8.0, jitter=0.1) for n in range(1, 7)]
    for got, base in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert base * 0.9 <= got <= base * 1.1


async def test_reconnecting_tries_again_after_failures_and_resets_on_connect() -> None:
    stop = asyncio.Event()
    seen: list[tuple[str | None, int]] = []
    tries = 0

    async def connect(connected: Callable[[], None]) -> None:
        nonlocal tries
        tries += 1
        if tries in (1, 2):
            raise OSError(f"down {tries}")
        if tries == 3:
            connected()
            return  # the other side closed it
        stop.set()
        raise TimeoutError("stopping")

    def delay(error: Exception | None, failures: int) -> float:
        seen.append((None if error is None else str(error), failures))
        return 0.01

    await asyncio.wait_for(hashcart.reconnecting(connect, stop=stop, delay=delay), 5)
    assert seen == [("down 1", 1), ("down 2", 2), (None, 1), ("stopping", 2)]


async def test_reconnecting_ends_when_the_delay_says_so() -> None:
    async def connect(connected: Callable[[], None]) -> None:
        raise KeyError("a bug")

    def delay(error: Exception | None, failures: int) -> float:
        assert error is not None
        raise error

    with pytest.raises(KeyError):
        await hashcart.reconnecting(connect, stop=asyncio.Event(), delay=delay)


def test_doubling_doubles_up_to_the_cap() -> None:
    delays = hashcart.doubling(0.5, 3.0)
    assert [next(delays) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_retrying_tries_again_while_the_core_is_away_then_gives_up() -> None:
    tries: list[int] = []
    retried: list[str] = []

    async def record() -> str:
        tries.append(len(tries))
        if len(tries) < 3:
            raise hashcart.Unavailable("database away")
        return "recorded"

    got = await hashcart.retrying(
        record, delays=[0.0] * 5, on_retry=lambda e: retried.append(str(e))
    )
    assert got == "recorded" and len(tries) == 3 and retried == ["database away"] * 2

    async def never() -> str:
        raise hashcart.Unavailable("still away")

    with pytest.raises(hashcart.Unavailable):
        await hashcart.retrying(never, delays=[0.0, 0.0])

    async def broken() -> str:
        raise KeyError("not ours to retry")

    with pytest.raises(KeyError):
        await hashcart.retrying(broken, delays=[0.0])


async def test_retrying_stops_trying_once_stopped() -> None:
    stop = asyncio.Event()
    tries = 0

    async def record() -> None:
        nonlocal tries
        tries += 1
        stop.set()
        raise hashcart.Unavailable("away")

    with pytest.raises(hashcart.Unavailable):
        await hashcart.retrying(record, delays=hashcart.doubling(0.01, 1.0), stop=stop)
    assert tries == 1
