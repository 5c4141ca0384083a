"""A product taken from a tweet not everyone may read is never named in a public reply.

Carol's account is protected; the bot follows her, so its lookups can read her tweets. Alice
(public, a follower of Carol) replies `#amazoncart` to, or quotes, Carol's product tweet. The
answer names the product, so it must reach Alice by DM: a public reply would tell the world what
Carol posted to her followers only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import hashcart_twitter
from hashcart.testing import RunningHashcart, eventually, running_hashcart
from hashcart_twitter.testing import XStandin, quote_tweet, tweet, user

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"
ALICE = user("alice", "6253282")
BOB = user("bob", "783214")
CAROL = user("carol", "5120691", protected=True)


@pytest.fixture
async def x() -> AsyncIterator[XStandin]:
    async with XStandin(keepalive_seconds=0.1) as standin:
        standin.follow(CAROL)
        yield standin


@contextlib.asynccontextmanager
async def started(x: XStandin, database_url: str, **env: str) -> AsyncIterator[RunningHashcart]:
    async with running_hashcart([hashcart_twitter], x.env(**env), database_url) as hc:
        await hc.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        await hc.link("alice", "twitter", ALICE["id_str"])
        yield hc


def _reply_to_parent(x: XStandin, author: dict[str, Any]) -> dict[str, Any]:
    parent = x.add_tweet(tweet("My secret wishlist", user=author, urls=[ECHO]))
    return tweet("#amazoncart", user=ALICE, in_reply_to=parent)


def _quote_embedded(x: XStandin, author: dict[str, Any]) -> dict[str, Any]:
    quoted = x.add_tweet(tweet("My secret wishlist", user=author, urls=[ECHO]))
    return quote_tweet("#amazoncart", user=ALICE, quoted=quoted)


def _quote_by_id(x: XStandin, author: dict[str, Any]) -> dict[str, Any]:
    quoted = x.add_tweet(tweet("My secret wishlist", user=author, urls=[ECHO]))
    return quote_tweet("#amazoncart", user=ALICE, quoted=quoted, embed=False)


ASKS: dict[str, Callable[[XStandin, dict[str, Any]], dict[str, Any]]] = {
    "reply-to-parent": _reply_to_parent,
    "quote-embedded": _quote_embedded,
    "quote-by-id": _quote_by_id,
}


async def _cart(hc: RunningHashcart) -> list[str]:
    return [item["product_id"] for item in await hc.cart("twitter", ALICE["id_str"]) or []]


@pytest.mark.parametrize("mode", ["webhook", "stream"])
@pytest.mark.parametrize("ask", list(ASKS))
async def test_protected_tweet_product_is_not_leaked_in_a_public_reply(
    x: XStandin, database_url: str, mode: str, ask: str
) -> None:
    env = {"mode": mode, "stream_backfill_minutes": "0"} if mode == "stream" else {}
    if mode == "stream":
        env |= {"stream_backoff_scale": "0.01", "stream_stall_seconds": "1"}
    async with started(x, database_url, **env) as hc:
        asking = ASKS[ask](x, CAROL)
        if mode == "webhook":
            assert (await x.deliver(f"{hc.url}/twitter/webhook", [asking])).status == 200
        else:
            await x.wait_for_stream()
            assert await x.stream_tweet(asking) == 1
        await eventually(lambda: x.dms_to(ALICE) or x.replies_to(asking))
        assert [p.text for p in x.posted] == [], "a public reply named Carol's product"
        assert await _cart(hc) == ["amazon:B00X4WHP5E"]
        dms = x.dms_to(ALICE)
        assert len(dms) == 1 and "Echo Dot" in dms[0].text

        # The same ask about a public author's tweet is still answered in public.
        control = ASKS[ask](x, BOB)
        if mode == "webhook":
            assert (await x.deliver(f"{hc.url}/twitter/webhook", [control])).status == 200
        else:
            await x.stream_tweet(control)
        public = await eventually(lambda: x.replies_to(control))
        assert "Echo Dot" in public[0].text
        assert len(x.dms_to(ALICE)) == 1
