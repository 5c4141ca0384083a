"""Hypothesis into each webhook route, correctly signed, through the real server.

A signed request proves only that it came from the platform (or from whoever holds the secret):
its body still has to be read with suspicion. Whatever the body - bytes, any JSON, JSON shaped
like the platform's with any value under any key - the answer is never a 5xx, and a 400 carries
the project's error shape. X and Slack are the routes that take a body from the outside.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hashcart_slack
import hashcart_twitter
from hashcart.testing import RunningHashcart, running_hashcart
from hashcart_slack.testing import SlackStandin, signed_headers
from hashcart_twitter.testing import SIGNATURE_HEADER, XStandin, sign_delivery
from tests.security.fuzzing import FUZZ
from tests.security.strategies import (
    DM_KEYS,
    SLACK_KEYS,
    V1_KEYS,
    any_json,
    deeply_nested,
    shaped,
    text,
)


@pytest.fixture
async def x() -> AsyncIterator[XStandin]:
    async with XStandin() as standin:
        yield standin


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        yield standin


@pytest.fixture
async def hc(database_url: str, x: XStandin, slack: SlackStandin) -> AsyncIterator[RunningHashcart]:
    env = {
        **x.env(),
        "HASHCART_SLACK_SIGNING_SECRET": slack.signing_secret,
        "HASHCART_SLACK_BOT_TOKEN": slack.bot_token,
        "HASHCART_SLACK_API_URL": slack.api_url,
    }
    plugins = [hashcart_twitter, hashcart_slack]
    async with running_hashcart(plugins=plugins, env=env, database_url=database_url) as running:
        await running.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


async def assert_refused_cleanly_or_taken(response: aiohttp.ClientResponse) -> None:
    assert response.status < 500, (response.status, await response.text())
    if response.status == 400:
        body = await response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body


# -- X: POST /twitter/webhook ---------------------------------------------------------------------

x_events = st.one_of(shaped(V1_KEYS), any_json)
x_messages = st.one_of(shaped(DM_KEYS), any_json)
x_bodies = st.one_of(
    st.binary(max_size=200),
    deeply_nested,
    any_json.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "for_user_id": st.one_of(text, any_json),
            "tweet_create_events": st.one_of(st.lists(x_events, max_size=3), any_json),
            "direct_message_events": st.one_of(st.lists(x_messages, max_size=3), any_json),
            "users": st.one_of(st.dictionaries(text, shaped(DM_KEYS), max_size=2), any_json),
        },
    ).map(lambda value: json.dumps(value).encode()),
)


@FUZZ
@given(body=x_bodies)
async def test_signed_hostile_deliveries_never_get_a_5xx_from_the_x_webhook(
    hc: RunningHashcart, x: XStandin, http: aiohttp.ClientSession, body: bytes
) -> None:
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_delivery(x.consumer_secret, body),
    }
    async with http.post(f"{hc.url}/twitter/webhook", data=body, headers=headers) as response:
        await assert_refused_cleanly_or_taken(response)


@FUZZ
@given(token=st.one_of(text, st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)))
async def test_hostile_crc_tokens_never_get_a_5xx_from_the_x_webhook(
    hc: RunningHashcart, http: aiohttp.ClientSession, token: str
) -> None:
    url = f"{hc.url}/twitter/webhook"
    async with http.get(url, params={"crc_token": token}) as response:
        assert response.status in (200, 400), (response.status, await response.text())
        await assert_refused_cleanly_or_taken(response)


# -- Slack: POST /slack/events --------------------------------------------------------------------

slack_events = st.builds(
    lambda kind, event, envelope: {
        **envelope,
        "type": "event_callback",
        "event": {**event, **kind},
    },
    st.fixed_dictionaries(
        {"type": st.sampled_from(["message", "reaction_added", "reaction_removed", "app_mention"])}
    ),
    shaped(SLACK_KEYS),
    shaped(SLACK_KEYS),
)
form_values = st.dictionaries(st.sampled_from(SLACK_KEYS) | st.text(max_size=8), text, max_size=8)
slack_bodies = st.one_of(
    st.tuples(st.binary(max_size=200), st.sampled_from(["application/json", "x-www-form"])),
    st.tuples(deeply_nested, st.just("application/json")),
    st.tuples(any_json.map(lambda v: json.dumps(v).encode()), st.just("application/json")),
    st.tuples(
        shaped(SLACK_KEYS).map(lambda v: json.dumps(v).encode()), st.just("application/json")
    ),
    st.tuples(slack_events.map(lambda v: json.dumps(v).encode()), st.just("application/json")),
    st.tuples(
        form_values.map(lambda v: urlencode({"command": "/cart", **v}).encode()),
        st.just("x-www-form"),
    ),
    st.tuples(
        st.one_of(shaped(SLACK_KEYS), any_json).map(
            lambda v: urlencode({"payload": json.dumps(v)}).encode()
        ),
        st.just("x-www-form"),
    ),
)


@FUZZ
@given(request=slack_bodies)
async def test_signed_hostile_requests_never_get_a_5xx_from_slack_events(
    hc: RunningHashcart,
    slack: SlackStandin,
    http: aiohttp.ClientSession,
    request: tuple[bytes, str],
) -> None:
    body, kind = request
    content_type = "application/x-www-form-urlencoded" if kind == "x-www-form" else kind
    headers = signed_headers(slack.signing_secret, body, content_type=content_type)
    async with http.post(f"{hc.url}/slack/events", data=body, headers=headers) as response:
        await assert_refused_cleanly_or_taken(response)


header_text = st.one_of(
    st.sampled_from(["", "abc", "-1", "1e9", "١٢٣٤", "9" * 40, "v0=" + "0" * 64, "v1=zz", "v0=é"]),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=80),
)


@FUZZ
@given(timestamp=header_text, signature=header_text)
async def test_hostile_signature_headers_never_get_a_5xx_from_slack_events(
    hc: RunningHashcart, http: aiohttp.ClientSession, timestamp: str, signature: str
) -> None:
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }
    for body in (b'{"type": "url_verification", "challenge": "c"}', b"{not json"):
        async with http.post(f"{hc.url}/slack/events", data=body, headers=headers) as response:
            assert response.status == 401, await response.text()
