"""The filtered stream asks X for the last minutes again on every connection (`backfill_minutes`),
so a tweet sent while the stream was down, or read but not recorded, is not lost; what this
consumer already finished is skipped."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp

import hashcart_twitter
from hashcart.testing import RunningHashcart, eventually, running_hashcart
from hashcart_twitter.testing import XStandin, tweet, user

KINDLE = "https://www.amazon.com/dp/B08N5WRWNW"
ECHO = "https://www.amazon.com/dp/B00X4WHP5E"
ALICE = user("alice", "6253282")
CAROL = user("carol", "5120691", protected=True)
STREAM = "/2/tweets/search/stream"


@contextlib.asynccontextmanager
async def streaming(
    x: XStandin, database_url: str | None = None, **env: str
) -> AsyncIterator[RunningHashcart]:
    settings = x.env(mode="stream", stream_backoff_scale="0.01", stream_stall_seconds="1", **env)
    async with running_hashcart([hashcart_twitter], settings, database_url) as hc:
        await hc.add_product("amazon:B08N5WRWNW", title="Kindle", price_cents=9999)
        await hc.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        await hc.link("alice", "twitter", ALICE["id_str"])
        await x.wait_for_stream()
        yield hc


def _stream_calls(x: XStandin) -> list[tuple[int, str | None]]:
    """(status, backfill_minutes) of every request to open the stream."""
    calls = [c for c in x.calls_to("GET", STREAM) if c.path == STREAM]
    return [(c.status, c.query.get("backfill_minutes")) for c in calls]


async def test_a_tweet_sent_while_the_stream_was_down_is_backfilled(database_url: str) -> None:
    async with XStandin(keepalive_seconds=0.1) as x, streaming(x, database_url) as hc:
        # Carol is protected: her tweet is not in the stream's includes and must be looked up.
        x.follow(CAROL)
        parent = x.add_tweet(tweet("look", user=CAROL, urls=[KINDLE]))
        before = tweet("#amazoncart", user=ALICE, in_reply_to=parent)
        await x.stream_tweet(before)
        await eventually(lambda: x.dms_to(ALICE))

        x.fail_for(0.5, status=503, path=STREAM)  # X is away for a moment
        x.drop_streams()
        missed = tweet("#amazoncart", user=ALICE, urls=[ECHO])
        await eventually(lambda: x.open_streams == 0)
        assert await x.stream_tweet(missed) == 0  # nobody is connected to get it now
        await eventually(lambda: x.replies_to(missed), timeout=10)

        assert [minutes for status, minutes in _stream_calls(x) if status == 200] == ["5", "5"]
        # The backfill sent `before` again: finished already, it was neither looked up nor
        # answered twice.
        assert len(x.calls_to("GET", f"/2/tweets/{parent['id_str']}")) == 1
        assert len(x.dms_to(ALICE)) == 1 and len(x.replies_to(missed)) == 1
        cart = {
            i["product_id"]: i["quantity"] for i in await hc.cart("twitter", ALICE["id_str"]) or []
        }
        assert cart == {"amazon:B08N5WRWNW": 1, "amazon:B00X4WHP5E": 1}


async def test_a_refused_backfill_is_not_asked_for_again_and_the_stream_runs() -> None:
    async with XStandin(keepalive_seconds=0.1) as x:
        x.backfill_allowed = False
        async with streaming(x) as hc:
            asking = tweet("#amazoncart", user=ALICE, urls=[ECHO])
            await x.stream_tweet(asking)
            await eventually(lambda: x.replies_to(asking))
            assert _stream_calls(x) == [(403, "5"), (200, None)]
            assert await hc.cart("twitter", ALICE["id_str"])


async def test_backfill_can_be_turned_off() -> None:
    async with XStandin(keepalive_seconds=0.1) as x, streaming(x, stream_backfill_minutes="0"):
        assert _stream_calls(x) == [(200, None)]


async def test_standin_refuses_a_backfill_outside_0_to_5() -> None:
    async with XStandin() as x, aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {x.bearer_token}"}
        for value in ("6", "-1", "two"):
            async with http.get(
                f"{x.url}{STREAM}", params={"backfill_minutes": value}, headers=headers
            ) as resp:
                assert resp.status == 400
                assert (await resp.json())["type"].endswith("invalid-request")
