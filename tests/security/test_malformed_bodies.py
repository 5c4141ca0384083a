"""Issue 14: every webhook answers a malformed body with a 400 JSON error, and applies nothing.

Bodies here are signed correctly - the platform (or someone holding its secret) sent them - so a
refusal is about the body, not the sender. Unsigned garbage is a 401 that says nothing about the
body. After each refusal a well-formed request still goes through: nothing accepted is lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

import hashcart_slack
import hashcart_twitter
from hashcart.testing import RunningHashcart, eventually, running_hashcart
from hashcart_slack.testing import (
    SlackStandin,
    event_callback,
    message_event,
    new_event_id,
    signed_headers,
    slash_command_form,
)
from hashcart_twitter.testing import (
    SIGNATURE_HEADER,
    XStandin,
    sign_delivery,
    tweet,
    user,
)

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"
ALICE_X = user("alice", "6253282")
ALICE_SLACK = "U0ALICE"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


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
        await running.link("alice", "twitter", ALICE_X["id_str"])
        await running.link("alice", "slack", f"T0001:{ALICE_SLACK}")  # team + user
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


async def post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    async with http.post(url, data=body, headers=headers) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


def assert_error(answer: tuple[int, Any], status: int, code: str) -> None:
    assert answer[0] == status, answer
    body = answer[1]
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert body["error"]["code"] == code and body["error"]["message"], body


async def nothing_applied(hc: RunningHashcart) -> None:
    assert await hc.events() == []
    assert await hc.cart("twitter", ALICE_X["id_str"]) == []


# -- X ------------------------------------------------------------------------------------------


def x_headers(x: XStandin, body: bytes) -> dict[str, str]:
    return {"Content-Type": JSON, SIGNATURE_HEADER: sign_delivery(x.consumer_secret, body)}


MALFORMED_X = {
    "not_json": b'{"tweet_create_events": [',
    "not_utf8": b"\xff\xfe\x00{",
    "json_array": b"[]",
    "json_string": b'"tweet_create_events"',
    "events_not_a_list": b'{"tweet_create_events": {"id_str": "1"}}',
    "nested_too_deep": b"[" * 5000 + b"]" * 5000,
    "every_event_unreadable": b'{"for_user_id": "1", "tweet_create_events": [5, "x", {"id": "no"}]}',
}


@pytest.mark.parametrize("body", MALFORMED_X.values(), ids=MALFORMED_X.keys())
async def test_signed_malformed_x_delivery_is_400_and_applies_nothing(
    hc: RunningHashcart, x: XStandin, http: aiohttp.ClientSession, body: bytes
) -> None:
    url = f"{hc.url}/twitter/webhook"
    answer = await post(http, url, body, x_headers(x, body))
    assert answer[0] == 400, answer
    assert_error(answer, 400, answer[1]["error"]["code"])
    await nothing_applied(hc)
    assert x.posted == [] and x.dms == []

    good = await x.deliver(url, [tweet("#amazoncart", user=ALICE_X, urls=[ECHO])])
    assert good.status == 200
    assert await hc.cart("twitter", ALICE_X["id_str"]) != []


async def test_unsigned_malformed_x_delivery_is_401_not_a_body_error(
    hc: RunningHashcart, http: aiohttp.ClientSession
) -> None:
    answer = await post(http, f"{hc.url}/twitter/webhook", b"{not json", {"Content-Type": JSON})
    assert_error(answer, 401, "bad_signature")


# -- Slack --------------------------------------------------------------------------------------


def slack_event_body(inner: dict[str, Any], **envelope: Any) -> bytes:
    """An Events API delivery around `inner`, with envelope fields replaced."""
    body = json.loads(event_callback(inner, event_id=new_event_id(), team_id="T0001"))
    return json.dumps({**body, **envelope}).encode()


def malformed_slack() -> dict[str, tuple[bytes, str]]:
    message = message_event(f"#amazoncart <{ECHO}>", user=ALICE_SLACK)
    command = slash_command_form(
        f"add <{ECHO}>", response_url="http://127.0.0.1:9/r", trigger_id="1.2.3"
    )
    return {
        "not_json": (b'{"type": "event_callback", "event": {', JSON),
        "not_utf8": (b"\xff\xfe{", JSON),
        "json_array": (b"[1, 2]", JSON),
        "nested_too_deep": (b'{"event": ' + b"[" * 5000 + b"]" * 5000 + b"}", JSON),
        "json_null": (b"null", JSON),
        "event_not_an_object": (slack_event_body(message, event="message"), JSON),
        "event_text_not_a_string": (slack_event_body({**message, "text": ["#amazoncart"]}), JSON),
        "message_without_channel": (
            slack_event_body({k: v for k, v in message.items() if k != "channel"}),
            JSON,
        ),
        "event_without_event_id": (slack_event_body(message, event_id=None), JSON),
        "reaction_item_not_an_object": (
            slack_event_body(
                {"type": "reaction_added", "user": ALICE_SLACK, "reaction": "x", "item": "y"}
            ),
            JSON,
        ),
        "authorizations_not_objects": (slack_event_body(message, authorizations=["x"]), JSON),
        "slash_command_without_user": (command.replace(b"user_id=U0ALICE&", b""), FORM),
        "interactive_payload_not_json": (b"payload=%7Bnot+json", FORM),
        "interactive_payload_not_an_object": (b"payload=%5B%5D", FORM),
    }


MALFORMED_SLACK = malformed_slack()


@pytest.mark.parametrize("case", MALFORMED_SLACK.values(), ids=MALFORMED_SLACK.keys())
async def test_signed_malformed_slack_request_is_400_and_applies_nothing(
    hc: RunningHashcart,
    slack: SlackStandin,
    http: aiohttp.ClientSession,
    case: tuple[bytes, str],
) -> None:
    body, content_type = case
    url = f"{hc.url}/slack/events"
    headers = signed_headers(slack.signing_secret, body, content_type=content_type)
    assert_error(await post(http, url, body, headers), 400, "malformed_body")
    await nothing_applied(hc)
    assert slack.responses == [] and slack.ephemerals == []

    good = await slack.slash_command(url, f"add <{ECHO}>", user_id=ALICE_SLACK)
    assert good.status == 200
    assert await eventually(lambda: hc.cart("slack", f"T0001:{ALICE_SLACK}"))


@pytest.mark.parametrize("case", MALFORMED_SLACK.values(), ids=MALFORMED_SLACK.keys())
async def test_unsigned_malformed_slack_request_is_401_and_reveals_nothing(
    hc: RunningHashcart, http: aiohttp.ClientSession, case: tuple[bytes, str]
) -> None:
    body, content_type = case
    headers = signed_headers("not-the-secret", body, content_type=content_type)
    answer = await post(http, f"{hc.url}/slack/events", body, headers)
    assert answer[0] == 401, answer
    assert "malformed" not in json.dumps(answer[1])
    await nothing_applied(hc)


FORGED_HEADERS = {
    "timestamp_not_a_number": {"X-Slack-Request-Timestamp": "soon"},
    "timestamp_far_too_large": {"X-Slack-Request-Timestamp": "9" * 40},
    "signature_not_ascii": {"X-Slack-Signature": "v0=é"},
    "signature_missing": {"X-Slack-Signature": ""},
}


@pytest.mark.parametrize("forged", FORGED_HEADERS.values(), ids=FORGED_HEADERS.keys())
async def test_forged_slack_signature_headers_are_401_not_a_crash(
    hc: RunningHashcart, slack: SlackStandin, http: aiohttp.ClientSession, forged: dict[str, str]
) -> None:
    body = b'{"type": "url_verification", "challenge": "c"}'
    headers = {**signed_headers(slack.signing_secret, body, content_type=JSON), **forged}
    answer = await post(http, f"{hc.url}/slack/events", body, headers)
    assert answer[0] == 401, answer


async def test_stale_but_signed_malformed_slack_body_is_401(
    hc: RunningHashcart, slack: SlackStandin, http: aiohttp.ClientSession
) -> None:
    """A replayed old request learns nothing, not even that its body is malformed."""
    body = b"{not json"
    stale = int(time.time()) - 10 * 60
    headers = signed_headers(slack.signing_secret, body, content_type=JSON, timestamp=stale)
    assert_error(await post(http, f"{hc.url}/slack/events", body, headers), 401, "bad_signature")


async def test_slack_certificate_check_still_reaches_bolt_unsigned(
    hc: RunningHashcart, http: aiohttp.ClientSession
) -> None:
    """Bolt answers Slack's `ssl_check` before any signature check; the body check keeps that."""
    body = b"ssl_check=1&token=standin-verification-token"
    answer = await post(http, f"{hc.url}/slack/events", body, {"Content-Type": FORM})
    assert answer[0] == 200, answer
    await nothing_applied(hc)
