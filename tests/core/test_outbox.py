"""The reply sender: backoff, retry-after, giving up with a reason, order per recipient."""

from __future__ import annotations

import time

from hashcart import RetryLater, SendRefused
from hashcart.outbox import LEASE_SECONDS
from hashcart.store import is_postgres
from hashcart.testing import RunningHashcart, eventually
from tests.core.fakes import FakePlatform, command


async def test_retry_after_is_honoured_then_sent_once(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    await hc.link("alice", "fake", "u1")
    fake_platform.failures = [RetryLater("429", 0.3), RetryLater("503", 0.1)]
    started = time.monotonic()
    await hc.hashcart.submit(command(event_id="x1"))
    await eventually(lambda: len(fake_platform.sent) == 1)
    assert time.monotonic() - started >= 0.4
    assert fake_platform.sent[0].attempt == 3

    async def recorded() -> list[tuple[str, int]]:
        return [(r["status"], r["attempts"]) for r in await hc.outbox() if r["status"] == "sent"]

    assert await eventually(recorded) == [("sent", 3)]


async def test_refused_reply_is_recorded_and_not_retried(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    await hc.link("alice", "fake", "u1")
    fake_platform.failures = [SendRefused("403 user blocked the bot")]
    await hc.hashcart.submit(command(event_id="x1"))

    async def failed() -> bool:
        rows = await hc.outbox()
        return bool(rows) and rows[0]["status"] == "failed"

    await eventually(failed)
    rows = await hc.outbox()
    assert rows[0]["last_error"] == "403 user blocked the bot" and rows[0]["attempts"] == 1
    assert fake_platform.sent == []


async def test_gives_up_by_age_not_by_a_count_of_tries(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    """Eight quick failures no longer drop an answer; failing for the whole give-up age does."""
    hc.hashcart.settings.retry_give_up_minutes = 30
    sender = hc.hashcart.sender
    assert sender is not None
    skipped = 0.0
    sender.clock = lambda: time.time() + skipped
    await hc.link("alice", "fake", "u1")
    fake_platform.failures = [RetryLater("500", 0.01) for _ in range(12)]
    await hc.hashcart.submit(command(event_id="x1"))
    await eventually(lambda: len(fake_platform.failures) == 0, timeout=15)

    async def tried_twelve_times() -> bool:
        # The twelfth failure is taken from the list before its attempt is written down.
        return (await hc.outbox())[0]["attempts"] == 12

    await eventually(tried_twelve_times)
    rows = await hc.outbox()
    assert rows[0]["status"] == "pending"

    fake_platform.failures = [RetryLater("500", 0.01)]
    skipped = 31 * 60.0  # the next failure comes after half an hour of trying

    async def failed() -> bool:
        found = await hc.outbox()
        return found[0]["status"] == "failed"

    await eventually(failed)
    rows = await hc.outbox()
    assert rows[0]["attempts"] == 13 and rows[0]["last_error"] == "500"
    assert fake_platform.sent == []


async def test_replies_to_one_user_keep_their_order(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    await hc.link("alice", "fake", "u1")
    fake_platform.failures = [RetryLater("429", 0.2)]
    for index in range(5):
        await hc.hashcart.submit(command(event_id=f"o{index}"))
    await eventually(lambda: len(fake_platform.sent) == 5)
    assert [r.event_key for r in fake_platform.sent] == [f"fake:o{i}" for i in range(5)]


async def test_unexpected_exception_is_retried(hc: RunningHashcart, fake_platform: FakePlatform):
    await hc.link("alice", "fake", "u1")
    fake_platform.failures = [RuntimeError("boom")]
    await hc.hashcart.submit(command(event_id="x1"))
    await eventually(lambda: len(fake_platform.sent) == 1, timeout=5)


async def test_the_loop_leaves_marking_sent_to_its_next_claim_or_to_stop(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    """On PostgreSQL a drain of the worker's loop leaves its replies leased, and the next claim
    (or stopping) marks them sent: none is lost and none sent twice. On SQLite it marks them at
    once."""
    sender = hc.hashcart.sender
    assert sender is not None
    await sender.stop()  # driven by hand from here
    later = "pending" if is_postgres(hc.hashcart.engine) else "sent"
    await hc.link("alice", "fake", "u1")

    async def statuses() -> list[str]:
        return [row["status"] for row in await hc.outbox()]

    await hc.hashcart.submit(command(event_id="x1"))
    assert await sender.drain_in_loop() == 1
    assert await statuses() == [later]
    # Even when the next claim comes after x1's lease ran out (the database was away), it
    # marks x1 and does not take it again.
    sender.clock = lambda: time.time() + LEASE_SECONDS + 1
    assert await sender.drain_in_loop() == 0
    assert await statuses() == ["sent"]
    sender.clock = time.time

    await hc.hashcart.submit(command(event_id="x2"))
    assert await sender.drain_in_loop() == 1
    assert await statuses() == ["sent", later]
    await sender.stop()
    assert await statuses() == ["sent", "sent"]
    assert [reply.event_key for reply in fake_platform.sent] == ["fake:x1", "fake:x2"]
