"""The Mastodon plugin end to end: statuses on the stand-in, the stream into hashcart, answers
posted back. Only the public API and the test kit are used, as a third-party author would."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import entry_points
from pathlib import Path

import aiohttp
import pytest

import hashcart_mastodon
from hashcart.testing import RunningHashcart, eventually, running_hashcart
from hashcart_mastodon import doctor_rows
from hashcart_mastodon.client import retry_after
from hashcart_mastodon.settings import MastodonSettings
from hashcart_mastodon.statuses import read_content, reply_text
from hashcart_mastodon.testing import Account, MastodonStandin, Status

ECHO_DOT = "https://www.amazon.com/dp/B00X4WHP5E?tag=someone-20"
KINDLE = "https://www.amazon.com/dp/B08N5WRWNW"


@pytest.fixture
async def mastodon() -> AsyncIterator[MastodonStandin]:
    async with MastodonStandin(heartbeat_seconds=0.5) as standin:
        yield standin


@contextlib.asynccontextmanager
async def started(
    mastodon: MastodonStandin, database_url: str | None = None
) -> AsyncIterator[RunningHashcart]:
    async with running_hashcart(
        plugins=[hashcart_mastodon], env=mastodon.env(), database_url=database_url
    ) as running:
        await running.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        await running.add_product("amazon:B08N5WRWNW", title="Kindle", price_cents=9999)
        platform = running.hashcart.platforms["mastodon"]
        assert isinstance(platform, hashcart_mastodon.MastodonPlatform)
        await eventually(platform.listener.connected.is_set)
        yield running


@pytest.fixture
async def hc(mastodon: MastodonStandin) -> AsyncIterator[RunningHashcart]:
    async with started(mastodon) as running:
        yield running


@pytest.fixture
def alice(mastodon: MastodonStandin) -> Account:
    return mastodon.add_account("alice")


@pytest.fixture
def bob(mastodon: MastodonStandin) -> Account:
    return mastodon.add_account("bob", domain="other.example")


async def cart(hc: RunningHashcart, who: Account) -> dict[str, int]:
    items = await hc.cart("mastodon", who.id) or []
    return {item["product_id"]: item["quantity"] for item in items}


async def answer_to(mastodon: MastodonStandin, status: Status) -> Status:
    [answer] = await eventually(lambda: mastodon.replies_to(status))
    return answer


# ---------------------------------------------------------------------------------------------
# The trigger and the answer
# ---------------------------------------------------------------------------------------------


async def test_a_reply_with_the_hashtag_adds_the_product_of_the_status_replied_to(
    hc: RunningHashcart, mastodon: MastodonStandin, alice: Account, bob: Account
) -> None:
    await hc.link("alice", "mastodon", alice.id)
    product = mastodon.post(bob, "This one is great", urls=[ECHO_DOT])
    ask = mastodon.post(alice, "@hashcart #AmazonCart", in_reply_to=product)

    answer = await answer_to(mastodon, ask)
    assert answer.text.startswith("@alice ") and "Echo Dot" in answer.text
    assert answer.visibility == "public" and answer.language == "en"
    assert await cart(hc, alice) == {"amazon:B00X4WHP5E": 1}


async def test_language_words_the_answers_until_it_is_cleared(
    hc: RunningHashcart, mastodon: MastodonStandin, alice: Account
) -> None:
    await hc.link("alice", "mastodon", alice.id)
    chosen = await answer_to(mastodon, mastodon.post(alice, "@hashcart #amazoncart language de"))
    assert "Deutsch" in chosen.text
    helped = await answer_to(mastodon, mastodon.post(alice, "@hashcart #amazoncart help"))
    assert "Erwähne mich" in helped.text
    cleared = await answer_to(mastodon, mastodon.post(alice, "@hashcart #amazoncart language"))
    assert "platform's language" in cleared.text
    assert (await hc.hashcart.accounts.find(name="alice"))[0]["language"] is None


async def test_a_followers_only_status_is_answered_with_a_direct_mention(
    hc: RunningHashcart, mastodon: MastodonStandin, alice: Account, bob: Account
) -> None:
    await hc.link("alice", "mastodon", alice.id)
    product = mastodon.post(bob, "Look", urls=[KINDLE])
    ask = mastodon.post(alice, "@hashcart #amazoncart", in_reply_to=product, visibility="private")

    answer = await answer_to(mastodon, ask)
    assert answer.visibility == "direct"
    assert [m.acct for m in answer.mentions] == ["alice"]
    assert await cart(hc, alice) == {"amazon:B08N5WRWNW": 1}


async def test_a_link_in_the_asking_status_counts_and_unlisted_stays_unlisted(
    hc: RunningHashcart, mastodon: MastodonStandin, bob: Account
) -> None:
    await hc.link("bob", "mastodon", bob.id)
    ask = mastodon.post(bob, "@hashcart #amazoncart", urls=[KINDLE], visibility="unlisted")

    answer = await answer_to(mastodon, ask)
    assert answer.text.startswith("@bob@other.example ") and answer.visibility == "unlisted"
    assert await cart(hc, bob) == {"amazon:B08N5WRWNW": 1}


async def test_an_unlinked_user_gets_a_link_and_the_add_waits_for_it(
    hc: RunningHashcart, mastodon: MastodonStandin, alice: Account, bob: Account
) -> None:
    product = mastodon.post(bob, "Look", urls=[ECHO_DOT])
    ask = mastodon.post(alice, "@hashcart #amazoncart", in_reply_to=product)

    answer = await answer_to(mastodon, ask)
    assert f"{hc.url}/link/" in answer.text
    assert await hc.cart("mastodon", alice.id) is None

    await hc.link("alice", "mastodon", alice.id)
    assert await cart(hc, alice) == {"amazon:B00X4WHP5E": 1}


async def test_statuses_without_the_hashtag_or_a_link_are_ignored_and_non_products_are_told(
    hc: RunningHashcart, mastodon: MastodonStandin, alice: Account, bob: Account
) -> None:
    await hc.link("alice", "mastodon", alice.id)
    product = mastodon.post(bob, "Look", urls=[ECHO_DOT])
    chatter = mastodon.post(alice, "@hashcart what do you think?", in_reply_to=product)
    no_link = mastodon.post(alice, "@hashcart #amazoncart is fun")
    not_product = mastodon.post(alice, "@hashcart #amazoncart", urls=["https://example.org/x"])

    answer = await answer_to(mastodon, not_product)
    assert "not a product link" in answer.text
    # Notifications are handled in order: the earlier ones were read and stayed unanswered.
    assert mastodon.replies_to(chatter) == [] and mastodon.replies_to(no_link) == []
    assert len(mastodon.posted) == 1
    assert await cart(hc, alice) == {}


async def test_bots_are_not_answered(
    hc: RunningHashcart, mastodon: MastodonStandin, alice: Account
) -> None:
    deals = mastodon.add_account("dealsbot", bot=True)
    await hc.link("deals", "mastodon", deals.id)
    await hc.link("alice", "mastodon", alice.id)
    spam = mastodon.post(deals, "@hashcart #amazoncart", urls=[ECHO_DOT])
    ask = mastodon.post(alice, "@hashcart #amazoncart", urls=[KINDLE])

    await answer_to(mastodon, ask)
    assert mastodon.replies_to(spam) == []
    assert await cart(hc, deals) == {}


# ---------------------------------------------------------------------------------------------
# Delivery: stream, catch-up, restarts, Mastodon's limits
# ---------------------------------------------------------------------------------------------


async def test_mentions_made_while_the_stream_was_down_are_caught_up_once(
    hc: RunningHashcart, mastodon: MastodonStandin, alice: Account
) -> None:
    await hc.link("alice", "mastodon", alice.id)
    first = mastodon.post(alice, "@hashcart #amazoncart", urls=[ECHO_DOT])
    await answer_to(mastodon, first)

    connections = mastodon.stream_connections
    mastodon.fail_next("GET", "/api/v1/streaming", 503, times=2)
    mastodon.drop_streams()
    await eventually(lambda: mastodon.open_streams == 0)
    missed = mastodon.post(alice, "@hashcart #amazoncart", urls=[ECHO_DOT])

    await answer_to(mastodon, missed)
    assert mastodon.stream_connections == connections + 1
    assert len(mastodon.posted) == 2
    assert await cart(hc, alice) == {"amazon:B00X4WHP5E": 2}


async def test_a_restart_catches_up_from_the_stored_cursor_and_a_new_install_skips_history(
    mastodon: MastodonStandin, alice: Account, tmp_path: Path
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'hashcart.db'}"
    history = mastodon.post(alice, "@hashcart #amazoncart", urls=[KINDLE])
    async with started(mastodon, database) as hc:
        await hc.link("alice", "mastodon", alice.id)
        live = mastodon.post(alice, "@hashcart #amazoncart", urls=[ECHO_DOT])
        await answer_to(mastodon, live)
    assert mastodon.replies_to(history) == []

    while_down = mastodon.post(alice, "@hashcart #amazoncart", urls=[ECHO_DOT])
    async with started(mastodon, database) as hc:
        await answer_to(mastodon, while_down)
        assert await cart(hc, alice) == {"amazon:B00X4WHP5E": 2}
    assert mastodon.replies_to(live) != [] and len(mastodon.posted) == 2


async def test_a_failing_lookup_of_the_status_replied_to_is_retried(
    hc: RunningHashcart, mastodon: MastodonStandin, alice: Account, bob: Account
) -> None:
    await hc.link("alice", "mastodon", alice.id)
    product = mastodon.post(bob, "Look", urls=[KINDLE])
    mastodon.fail_next("GET", f"/api/v1/statuses/{product.id}", 503, times=2)
    ask = mastodon.post(alice, "@hashcart #amazoncart", in_reply_to=product)

    assert "Kindle" in (await answer_to(mastodon, ask)).text
    assert len(mastodon.calls_to("GET", f"/api/v1/statuses/{product.id}")) == 3
    assert await cart(hc, alice) == {"amazon:B08N5WRWNW": 1}


async def test_a_rate_limited_answer_is_posted_once_after_the_reset(
    hc: RunningHashcart, mastodon: MastodonStandin, alice: Account
) -> None:
    await hc.link("alice", "mastodon", alice.id)
    mastodon.fail_next("POST", "/api/v1/statuses", 429, reset_seconds=0.2)
    ask = mastodon.post(alice, "@hashcart #amazoncart", urls=[ECHO_DOT])

    await answer_to(mastodon, ask)
    posts = mastodon.calls_to("POST", "/api/v1/statuses")
    assert len(posts) == 2 and len(mastodon.posted) == 1


async def test_an_answer_to_a_deleted_status_still_mentions_the_person(
    hc: RunningHashcart, mastodon: MastodonStandin, alice: Account
) -> None:
    await hc.link("alice", "mastodon", alice.id)
    mastodon.fail_next("POST", "/api/v1/statuses", 503, times=1)
    ask = mastodon.post(alice, "@hashcart #amazoncart", urls=[ECHO_DOT])
    await eventually(lambda: mastodon.calls_to("POST", "/api/v1/statuses"))
    del mastodon.statuses[ask.id]

    [answer] = await eventually(lambda: mastodon.posted)
    assert answer.in_reply_to is None and answer.text.startswith("@alice ")


# ---------------------------------------------------------------------------------------------
# Installation, configuration, doctor
# ---------------------------------------------------------------------------------------------


def test_the_plugin_is_found_through_its_entry_point() -> None:
    [found] = entry_points(group="hashcart.plugins", name="mastodon")
    assert found.load() is hashcart_mastodon
    assert found.dist is not None and found.dist.name == "hashcart-mastodon"


async def test_doctor_checks_the_token_and_the_streaming_api(mastodon: MastodonStandin) -> None:
    timeout = aiohttp.ClientTimeout(total=5)
    good = MastodonSettings(api_url=mastodon.url, access_token=mastodon.token)
    assert await doctor_rows(good, timeout) == [
        ("mastodon configuration", True, f"instance {mastodon.url}"),
        ("mastodon token", True, "signed in as @hashcart"),
        ("mastodon streaming API", True, "answers"),
    ]
    bad = MastodonSettings(api_url=mastodon.url, access_token="wrong")
    rows = await doctor_rows(bad, timeout)
    assert rows[1][:2] == ("mastodon token", False) and "401" in rows[1][2]
    assert (await doctor_rows(MastodonSettings(), timeout))[0][1] is False


# ---------------------------------------------------------------------------------------------
# Small pieces
# ---------------------------------------------------------------------------------------------


def test_links_come_from_hrefs_not_from_shortened_text_mentions_or_hashtags() -> None:
    content = (
        '<p><span class="h-card"><a href="https://social.example/@hashcart" '
        'class="u-url mention">@<span>hashcart</span></a></span> '
        '<a href="https://social.example/tags/amazoncart" class="mention hashtag" rel="tag">'
        "#<span>amazoncart</span></a> "
        '<a href="https://www.amazon.com/dp/B00X4WHP5E/ref=abc?tag=x" rel="nofollow noopener">'
        '<span class="invisible">https://www.</span><span class="ellipsis">amazon.com/dp/B00X4'
        '</span><span class="invisible">WHP5E/ref=abc?tag=x</span></a></p><p>a &amp; b</p>'
    )
    links, text = read_content(content)
    assert links == ("https://www.amazon.com/dp/B00X4WHP5E/ref=abc?tag=x",)
    assert text.startswith("@hashcart #amazoncart ") and text.endswith("a & b")


def test_answers_are_addressed_and_fit_mastodons_limit() -> None:
    assert reply_text("bob@other.example", "Added.") == "@bob@other.example Added."
    long = reply_text("alice", "x" * 600)
    assert len(long) == 500 and long.startswith("@alice x") and long.endswith("…")


def test_retry_after_reads_mastodons_reset_time() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after({"X-RateLimit-Reset": "2026-01-01T12:05:00.000Z"}, now) == 300.0
    assert retry_after({"X-RateLimit-Reset": "2026-01-01T11:00:00.000Z"}, now) == 0.0
    assert retry_after({"Retry-After": "7"}, now) == 7.0
