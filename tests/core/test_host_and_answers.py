"""The plugin host API: `Hashcart` is a `hashcart.Host`, and HTTP answers are classified once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime

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
