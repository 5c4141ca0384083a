"""An answer outlives a platform outage (issue 14, item 5): a Mastodon instance answering 500 for
more than ten minutes (on a fake clock) gets the answer once when it comes back; the retries back
off instead of coming every second, and a Retry-After is honoured."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

import hashcart_mastodon
from hashcart.outbox import ReplySender
from hashcart.testing import RunningHashcart, eventually, running_hashcart
from hashcart_mastodon.testing import Account, MastodonStandin

ECHO_DOT = "https://www.amazon.com/dp/B00X4WHP5E"
STATUSES = "/api/v1/statuses"


class FakeClock:
    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.time() + self.skipped


@pytest.fixture
async def mastodon() -> AsyncIterator[MastodonStandin]:
    async with MastodonStandin(heartbeat_seconds=0.5) as standin:
        yield standin


@pytest.fixture
async def hc(mastodon: MastodonStandin, database_url: str) -> AsyncIterator[RunningHashcart]:
    async with running_hashcart(
        plugins=[hashcart_mastodon], env=mastodon.env(), database_url=database_url
    ) as running:
        await running.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        platform = running.hashcart.platforms["mastodon"]
        assert isinstance(platform, hashcart_mastodon.MastodonPlatform)
        await eventually(platform.listener.connected.is_set)
        yield running


def _sender(hc: RunningHashcart, clock: FakeClock) -> ReplySender:
    sender = hc.hashcart.sender
    assert sender is not None
    sender.clock = clock
    return sender


async def _row(hc: RunningHashcart) -> dict[str, object]:
    [row] = await eventually(hc.outbox)
    return row


async def test_mastodon_answering_500_for_eleven_minutes_still_gets_the_answer_once(
    hc: RunningHashcart, mastodon: MastodonStandin
) -> None:
    clock = FakeClock()
    sender = _sender(hc, clock)
    alice: Account = mastodon.add_account("alice")
    await hc.link("alice", "mastodon", alice.id)
    mastodon.fail_next("POST", STATUSES, 500, times=10_000)
    product = mastodon.post(mastodon.add_account("bob"), "Look", urls=[ECHO_DOT])
    ask = mastodon.post(alice, "@hashcart #amazoncart", in_reply_to=product)
    row = await _row(hc)
    created = float(row["created_at"])  # type: ignore[arg-type]
    delays: list[float] = []
    tries = 0
    while clock() - created < 11 * 60:
        tries += 1
        row = await eventually(lambda n=tries: _tried(hc, n), timeout=10)
        assert row["status"] == "pending", row
        due = float(row["next_attempt_at"])  # type: ignore[arg-type]
        delays.append(due - clock())
        clock.skipped += max(0.0, due - clock()) + 0.01  # straight to the next try
        sender.wake()
    failed_posts = len(mastodon.calls_to("POST", STATUSES))
    assert failed_posts == tries and mastodon.replies_to(ask) == []
    # Backed off: not 660 tries a second apart, and the waits grew to minutes.
    assert 8 <= tries <= 40, delays
    assert max(delays) >= 60 and delays[0] < 2

    mastodon.clear_faults()  # the instance is back
    clock.skipped += 121  # past the longest wait
    sender.wake()
    [answer] = await eventually(lambda: mastodon.replies_to(ask), timeout=10)
    assert "Echo Dot" in answer.text

    async def marked_sent() -> list[dict[str, object]] | None:
        # The answer reaches the instance a moment before the sender writes down that it did.
        found = await hc.outbox()
        return found if [r["status"] for r in found] == ["sent"] else None

    rows = await eventually(marked_sent)
    assert rows[0]["attempts"] == tries + 1
    clock.skipped += 3600
    sender.wake()
    await sender.drain_once()
    assert len(mastodon.replies_to(ask)) == 1


async def test_a_rate_limit_reset_is_waited_for_exactly(
    hc: RunningHashcart, mastodon: MastodonStandin
) -> None:
    clock = FakeClock()
    _sender(hc, clock)
    mastodon.fail_next("POST", STATUSES, 429, times=1, reset_seconds=40)
    alice = mastodon.add_account("alice")
    product = mastodon.post(mastodon.add_account("bob"), "Look", urls=[ECHO_DOT])
    mastodon.post(alice, "@hashcart #amazoncart", in_reply_to=product)
    row = await eventually(lambda: _tried(hc, 1))
    wait = float(row["next_attempt_at"]) - clock()  # type: ignore[arg-type]
    assert 35 < wait <= 40


async def _tried(hc: RunningHashcart, tries: int) -> dict[str, object] | None:
    rows = await hc.outbox()
    if rows and rows[0]["attempts"] >= tries and rows[0]["lease_until"] is None:
        return rows[0]
    return None
