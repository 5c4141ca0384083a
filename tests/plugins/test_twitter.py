"""The X plugin end to end: signed deliveries into hashcart, answers posted to the X stand-in.

Deliveries go over real HTTP with X's real HMAC signature (the stand-in signs them); the plugin's
own aiohttp/oauthlib client calls the stand-in, which verifies every OAuth 1.0a signature. The
tests read the results where a user would see them: the cart, and the bot's posts and DMs.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

import hashcart_twitter
from hashcart.testing import RunningHashcart, eventually, running_hashcart
from hashcart_twitter.testing import (
    XStandin,
    delivery,
    long_tweet,
    quote_tweet,
    retweet,
    sign_delivery,
    tweet,
    user,
)

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"
KINDLE = "https://www.amazon.com/dp/B08N5WRWNW"
ALICE = user("alice", "6253282")
BOB = user("bob", "783214")
CAROL = user("carol", "5120691", protected=True)
SPAMBOT = user("dealsbot", "9990001")


@pytest.fixture
async def x() -> AsyncIterator[XStandin]:
    async with XStandin() as standin:
        yield standin


@contextlib.asynccontextmanager
async def started(x: XStandin, **env: str) -> AsyncIterator[RunningHashcart]:
    settings = x.env(ignored_user_ids=SPAMBOT["id_str"], **env)
    async with running_hashcart(plugins=[hashcart_twitter], env=settings) as running:
        await running.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        await running.add_product("amazon:B08N5WRWNW", title="Kindle", price_cents=9999)
        yield running


@pytest.fixture
async def hc(x: XStandin) -> AsyncIterator[RunningHashcart]:
    async with started(x) as running:
        yield running


@pytest.fixture
async def alice(hc: RunningHashcart) -> str:
    return await hc.link("alice", "twitter", ALICE["id_str"])


def webhook(hc: RunningHashcart) -> str:
    return f"{hc.url}/twitter/webhook"


def product_tweet(url: str = ECHO, author: dict[str, Any] = BOB) -> dict[str, Any]:
    return tweet("This one is great", user=author, urls=[url])


async def cart_ids(hc: RunningHashcart, who: dict[str, Any]) -> dict[str, int]:
    items = await hc.cart("twitter", who["id_str"]) or []
    return {item["product_id"]: item["quantity"] for item in items}


# ---------------------------------------------------------------------------------------------
# CRC and signatures
# ---------------------------------------------------------------------------------------------


async def test_crc_answers_with_the_documented_vector() -> None:
    async with (
        XStandin(consumer_secret="my_consumer_secret") as x,
        running_hashcart(plugins=[hashcart_twitter], env=x.env()) as hc,
        aiohttp.ClientSession() as http,
    ):
        url = webhook(hc)
        async with http.get(url, params={"crc_token": "challenge_string"}) as resp:
            assert resp.status == 200
            assert await resp.json() == {
                "response_token": "sha256=xHgZcz09m35qwbyhR9BRzhnX8yXbAZpOn2dqCPp6Enw="
            }
        async with http.get(url) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "missing_crc_token"
        assert await x.check_crc(url)


@pytest.mark.parametrize("signature", ["", "sha256=AAAA", "forged"])
async def test_a_bad_or_missing_signature_is_refused_and_nothing_is_stored(
    x: XStandin, hc: RunningHashcart, alice: str, signature: str
) -> None:
    reply = tweet("#amazoncart", user=ALICE, urls=[ECHO])
    answer = await x.deliver(webhook(hc), [reply], signature=signature)
    assert answer.status == 401
    assert answer.json()["error"]["code"] == "bad_signature"
    assert await hc.events() == []
    assert await cart_ids(hc, ALICE) == {}
    assert x.posted == []


async def test_a_signature_made_with_another_secret_is_refused(
    x: XStandin, hc: RunningHashcart
) -> None:
    answer = await x.deliver(webhook(hc), [tweet("#amazoncart", user=ALICE)], secret="not-it")
    assert answer.status == 401
    assert await hc.events() == []


async def test_malformed_json_is_a_400(x: XStandin, hc: RunningHashcart) -> None:
    answer = await x.deliver(webhook(hc), body=b'{"tweet_create_events": [')
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "malformed_json"


# ---------------------------------------------------------------------------------------------
# Where the product link comes from
# ---------------------------------------------------------------------------------------------


async def test_happy_path_adds_to_the_cart_and_replies_once_to_the_right_tweet(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    reply = tweet("Want this #AmazonCart", user=ALICE, urls=[ECHO])
    answer = await x.deliver(webhook(hc), [reply])
    assert answer.status == 200
    assert await cart_ids(hc, ALICE) == {"amazon:B00X4WHP5E": 1}
    posted = await eventually(lambda: x.replies_to(reply))
    assert len(posted) == 1
    assert posted[0].text.startswith("@alice ")
    assert "Echo Dot" in posted[0].text
    assert x.calls_to("GET", "/2/tweets/") == []  # the reply held the link: no lookup


async def test_link_in_the_parent_tweet_is_looked_up(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    parent = x.add_tweet(product_tweet(KINDLE))
    reply = tweet("#amazoncart", user=ALICE, in_reply_to=parent)
    assert (await x.deliver(webhook(hc), [reply])).status == 200
    assert await cart_ids(hc, ALICE) == {"amazon:B08N5WRWNW": 1}
    lookups = x.calls_to("GET", f"/2/tweets/{parent['id_str']}")
    assert [(c.status, c.auth) for c in lookups] == [(200, "oauth1")]
    assert "entities" in lookups[0].query["tweet.fields"]
    assert len(await eventually(lambda: x.replies_to(reply))) == 1


@pytest.mark.parametrize("embed", [True, False], ids=["embedded", "by-id"])
async def test_quoting_a_product_tweet_adds_it(
    x: XStandin, hc: RunningHashcart, alice: str, embed: bool
) -> None:
    quoted = x.add_tweet(product_tweet(KINDLE))
    quote = quote_tweet("#amazoncart yes please", user=ALICE, quoted=quoted, embed=embed)
    assert (await x.deliver(webhook(hc), [quote])).status == 200
    assert await cart_ids(hc, ALICE) == {"amazon:B08N5WRWNW": 1}
    assert len(await eventually(lambda: x.replies_to(quote))) == 1


async def test_the_hashtag_and_link_of_a_long_post_count(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    words = "I have been looking for a good smart speaker for months and this is it. " * 3
    reply = long_tweet(words + "#AMAZONCART", user=ALICE, urls=[ECHO])
    assert reply["truncated"] and not reply["entities"]["hashtags"]  # only in extended_tweet
    assert (await x.deliver(webhook(hc), [reply])).status == 200
    assert await cart_ids(hc, ALICE) == {"amazon:B00X4WHP5E": 1}
    assert len(await eventually(lambda: x.replies_to(reply))) == 1


async def test_a_link_that_is_not_a_product_gets_one_answer_saying_so(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    reply = tweet("#amazoncart", user=ALICE, urls=["https://example.com/blog"])
    assert (await x.deliver(webhook(hc), [reply])).status == 200
    posted = await eventually(lambda: x.replies_to(reply))
    assert "not a product link" in posted[0].text
    assert await cart_ids(hc, ALICE) == {}


# ---------------------------------------------------------------------------------------------
# Who gets what answer
# ---------------------------------------------------------------------------------------------


async def test_unlinked_user_gets_a_link_and_the_add_is_applied_after_linking(
    x: XStandin, hc: RunningHashcart
) -> None:
    reply = tweet("#amazoncart", user=ALICE, urls=[ECHO])
    assert (await x.deliver(webhook(hc), [reply])).status == 200
    first = await eventually(lambda: x.replies_to(reply))
    assert f"{hc.url}/link/" in first[0].text
    assert await hc.cart("twitter", ALICE["id_str"]) is None

    await hc.link("alice", "twitter", ALICE["id_str"])
    assert await cart_ids(hc, ALICE) == {"amazon:B00X4WHP5E": 1}
    both = await eventually(lambda: len(x.replies_to(reply)) == 2 and x.replies_to(reply))
    assert "Echo Dot" in both[1].text


async def test_a_protected_account_is_answered_by_dm_never_in_public(
    x: XStandin, hc: RunningHashcart
) -> None:
    await hc.link("carol", "twitter", CAROL["id_str"])
    reply = tweet("#amazoncart", user=CAROL, urls=[ECHO])
    assert (await x.deliver(webhook(hc), [reply])).status == 200
    dms = await eventually(lambda: x.dms_to(CAROL))
    assert len(dms) == 1 and "Echo Dot" in dms[0].text
    assert x.posted == []


async def test_two_users_answers_differ(x: XStandin, hc: RunningHashcart, alice: str) -> None:
    await hc.link("bob", "twitter", BOB["id_str"])
    a = tweet("#amazoncart", user=ALICE, urls=[ECHO])
    b = tweet("#amazoncart", user=BOB, urls=[ECHO])
    await x.deliver(webhook(hc), [a, b])
    await eventually(lambda: x.replies_to(a) and x.replies_to(b))
    assert x.replies_to(a)[0].text != x.replies_to(b)[0].text
    assert all(call.status == 201 for call in x.calls_to("POST", "/2/tweets"))


async def test_a_repeated_answer_is_reworded_not_dropped(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    first = tweet("#amazoncart", user=ALICE, urls=["https://example.com/a"])
    second = tweet("#amazoncart", user=ALICE, urls=["https://example.com/b"])
    await x.deliver(webhook(hc), [first])
    await eventually(lambda: x.replies_to(first))
    await x.deliver(webhook(hc), [second])
    again = await eventually(lambda: x.replies_to(second), timeout=10)
    assert again[0].text != x.replies_to(first)[0].text
    refused = [c for c in x.calls_to("POST", "/2/tweets") if c.status == 403]
    assert len(refused) == 1


# ---------------------------------------------------------------------------------------------
# Exactly once, and nothing that is not a command
# ---------------------------------------------------------------------------------------------


async def test_the_same_delivery_twice_changes_nothing_and_replies_once(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    reply = tweet("#amazoncart", user=ALICE, urls=[ECHO])
    body = json.dumps(delivery([x.add_tweet(reply)])).encode()
    assert (await x.deliver(webhook(hc), body=body)).status == 200
    assert (await x.deliver(webhook(hc), body=body)).status == 200
    await eventually(lambda: x.replies_to(reply))
    await x.deliver(webhook(hc), body=body)
    sentinel = tweet("#amazoncart", user=ALICE, urls=[KINDLE])
    await x.deliver(webhook(hc), [sentinel])
    await eventually(lambda: x.replies_to(sentinel))
    assert len(x.replies_to(reply)) == 1
    assert await cart_ids(hc, ALICE) == {"amazon:B00X4WHP5E": 1, "amazon:B08N5WRWNW": 1}


async def test_retweets_own_tweets_untagged_ignored_users_and_linkless_tweets_are_silent(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    await hc.link("spam", "twitter", SPAMBOT["id_str"])
    original = x.add_tweet(tweet("#amazoncart", user=BOB, urls=[ECHO]))
    bot = x.bot
    ignored = [
        retweet(original, user=ALICE),
        tweet("#amazoncart", user=bot, urls=[ECHO]),
        tweet("Nice speaker", user=ALICE, urls=[ECHO]),
        tweet("#amazoncart", user=SPAMBOT, urls=[ECHO]),
        tweet("#amazoncart", user=ALICE),  # no link anywhere in reach
        tweet("#amazoncartel", user=ALICE, urls=[ECHO]),  # not the hashtag
    ]
    answer = await x.deliver(webhook(hc), ignored)
    assert answer.status == 200 and answer.json() == {"handled": 0}
    sentinel = tweet("#amazoncart", user=ALICE, urls=[KINDLE])
    await x.deliver(webhook(hc), [sentinel])
    await eventually(lambda: x.replies_to(sentinel))
    assert len(x.posted) == 1 and x.dms == []
    assert len(await hc.events()) == 1
    assert await cart_ids(hc, ALICE) == {"amazon:B08N5WRWNW": 1}


async def test_one_bad_event_does_not_drop_the_others(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    good_a = x.add_tweet(tweet("#amazoncart", user=ALICE, urls=[ECHO]))
    good_b = x.add_tweet(tweet("#amazoncart", user=ALICE, urls=[KINDLE]))
    no_user = {
        k: v for k, v in tweet("#amazoncart", user=ALICE, urls=[ECHO]).items() if k != "user"
    }
    events = [good_a, "not a tweet", {"garbage": True}, no_user, good_b]
    payload = {"for_user_id": x.bot["id_str"], "tweet_create_events": events}
    answer = await x.deliver(webhook(hc), payload=payload)
    assert answer.status == 200 and answer.json() == {"handled": 2}
    assert await cart_ids(hc, ALICE) == {"amazon:B00X4WHP5E": 1, "amazon:B08N5WRWNW": 1}
    await eventually(lambda: x.replies_to(good_a) and x.replies_to(good_b))


async def test_other_activity_is_acknowledged_and_ignored(x: XStandin, hc: RunningHashcart) -> None:
    payload = {"for_user_id": x.bot["id_str"], "favorite_events": [{"id": "abc"}]}
    answer = await x.deliver(webhook(hc), payload=payload)
    assert answer.status == 200 and answer.json() == {"handled": 0}


# ---------------------------------------------------------------------------------------------
# X misbehaving
# ---------------------------------------------------------------------------------------------


async def test_a_429_is_waited_out_then_the_reply_is_posted_once(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    x.fail_next(1, status=429, reset_in=1, path="/2/tweets")
    reply = tweet("#amazoncart", user=ALICE, urls=[ECHO])
    await x.deliver(webhook(hc), [reply])
    await eventually(lambda: x.replies_to(reply), timeout=10)
    statuses = [c.status for c in x.calls if c.method == "POST"]
    assert statuses == [429, 201]
    assert len(x.replies_to(reply)) == 1


async def test_x_down_for_a_while_loses_nothing(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    await x.go_down()
    replies = [tweet("#amazoncart", user=ALICE, urls=[url]) for url in (ECHO, KINDLE, ECHO)]
    for reply in replies:
        assert (await x.deliver(webhook(hc), [reply])).status == 200
    await eventually(_first_reply_failed(hc, len(replies)), timeout=5)
    x.fail_for(1.0, status=503)
    await x.come_back()
    await eventually(lambda: all(x.replies_to(r) for r in replies), timeout=20)
    assert [len(x.replies_to(r)) for r in replies] == [1, 1, 1]
    assert await cart_ids(hc, ALICE) == {"amazon:B00X4WHP5E": 2, "amazon:B08N5WRWNW": 1}


def _first_reply_failed(hc: RunningHashcart, queued: int) -> Any:
    """True once the sender has tried (and failed) the oldest of `queued` pending replies."""

    async def check() -> bool:
        rows = await hc.outbox()
        pending = [row for row in rows if row["status"] == "pending"]
        return len(pending) == queued and bool(pending[0]["last_error"])

    return check


async def test_a_parent_lookup_while_x_is_down_asks_for_redelivery(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    parent = x.add_tweet(product_tweet(KINDLE))
    reply = tweet("#amazoncart", user=ALICE, in_reply_to=parent)
    x.fail_for(30, status=503, path="/2/tweets/")
    first = await x.deliver(webhook(hc), [reply])
    assert first.status == 503
    assert await hc.events() == []
    x.heal()
    again = await x.deliver(webhook(hc), [reply])
    assert again.status == 200
    assert await cart_ids(hc, ALICE) == {"amazon:B08N5WRWNW": 1}
    assert len(await eventually(lambda: x.replies_to(reply))) == 1


async def test_database_down_answers_503_and_the_redelivery_is_applied_once(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    from hashcart.store import create_engine  # the test reaches into the core to break the DB

    applier: Any = hc.hashcart.applier
    working = applier._engine
    applier._engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    reply = tweet("#amazoncart", user=ALICE, urls=[ECHO])
    try:
        down = await x.deliver(webhook(hc), [reply])
    finally:
        await applier._engine.dispose()
        applier._engine = working
    assert down.status == 503
    assert (await x.deliver(webhook(hc), [reply])).status == 200
    assert await cart_ids(hc, ALICE) == {"amazon:B00X4WHP5E": 1}
    assert len(await eventually(lambda: x.replies_to(reply))) == 1


# ---------------------------------------------------------------------------------------------
# Stream mode
# ---------------------------------------------------------------------------------------------


async def test_stream_mode_end_to_end() -> None:
    async with XStandin(keepalive_seconds=0.1) as x:
        env = {"mode": "stream", "stream_backoff_scale": "0.01", "stream_stall_seconds": "1"}
        async with started(x, **env) as hc:
            await hc.link("alice", "twitter", ALICE["id_str"])
            await x.wait_for_stream()
            assert [rule["value"] for rule in x.rules.values()] == [
                "#amazoncart -is:retweet",
                "#checkout @hashcart -is:retweet",
                "#confirm @hashcart -is:retweet",
            ]

            parent = x.add_tweet(product_tweet(KINDLE))
            reply = tweet("#AmazonCart", user=ALICE, in_reply_to=parent)
            assert await x.stream_tweet(reply) == 1
            await eventually(lambda: x.replies_to(reply))
            assert await cart_ids(hc, ALICE) == {"amazon:B08N5WRWNW": 1}

            x.drop_streams()  # X hangs up; the plugin reconnects and keeps going
            await eventually(lambda: x.stream_connections == 2)
            await x.wait_for_stream()
            second = tweet("#amazoncart", user=ALICE, urls=[ECHO])
            await x.stream_tweet(second)
            await eventually(lambda: x.replies_to(second))
            await x.stream_tweet(retweet(second, user=BOB))  # the rule filters it out
            assert await cart_ids(hc, ALICE) == {"amazon:B08N5WRWNW": 1, "amazon:B00X4WHP5E": 1}

        async with started(x, **env):  # a restart does not add the rule again
            await x.wait_for_stream()
            assert len(x.rules) == 3
        assert len(x.calls_to("POST", "/2/tweets/search/stream/rules")) == 1


async def test_stream_reconnects_after_an_http_error_and_a_silent_connection() -> None:
    async with XStandin(keepalive_seconds=30) as x:  # no keep-alives: the client must give up
        x.fail_next(2, status=503, path="/2/tweets/search/stream")
        env = {"mode": "stream", "stream_backoff_scale": "0.01", "stream_stall_seconds": "0.3"}
        async with started(x, **env) as hc:
            await hc.link("alice", "twitter", ALICE["id_str"])
            await eventually(lambda: x.stream_connections >= 2, timeout=5)
            await x.wait_for_stream()
            reply = tweet("#amazoncart", user=ALICE, urls=[ECHO])
            await x.stream_tweet(reply)
            await eventually(lambda: x.replies_to(reply))


def test_sign_delivery_matches_the_documented_vector() -> None:
    body = b'{"for_user_id":"1"}'
    expected = "sha256=i8tbwnVqdZ3h1f8GkTXSGpO7Ly4gi7lyOUWgIJWeW28="
    assert sign_delivery("my_consumer_secret", body) == expected
