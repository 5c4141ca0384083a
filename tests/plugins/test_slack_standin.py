"""The Slack stand-in against the real clients: slack_sdk's signature check and Web API client."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from hashcart_slack.testing import SlackStandin, sign, signed_headers

# Slack's documented example.
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmi"
    "bIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        yield standin


@pytest.fixture
async def client(slack: SlackStandin) -> AsyncIterator[AsyncWebClient]:
    async with aiohttp.ClientSession() as session:
        yield AsyncWebClient(
            token=slack.bot_token, base_url=slack.api_url, timeout=5, session=session
        )


def test_signature_matches_slacks_documented_example() -> None:
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert sign(DOC_SECRET, 1531420618, DOC_BODY) == expected


def test_signed_headers_pass_slack_sdks_verifier() -> None:
    body = b"text=add&trigger_id=1.2.3"
    headers = signed_headers("s3cret", body, content_type="application/x-www-form-urlencoded")
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid_request(body, headers)
    stale = signed_headers("s3cret", body, content_type="x", timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(body, stale)


async def test_web_api_methods_the_plugin_calls(
    slack: SlackStandin, client: AsyncWebClient
) -> None:
    auth = await client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("U0BOT", "B0BOT", "T0001")
    assert "reactions:read" in auth.headers["X-OAuth-Scopes"]

    posted = slack.add_message("C1", "see <https://www.amazon.com/dp/B00X4WHP5E>")
    history = await client.conversations_history(
        channel="C1", latest=posted["ts"], inclusive=True, limit=1
    )
    assert [m["ts"] for m in history["messages"]] == [posted["ts"]]
    ephemeral = await client.chat_postEphemeral(channel="C1", user="U1", text="hi")
    assert ephemeral["ok"] and slack.ephemerals == [{"channel": "C1", "user": "U1", "text": "hi"}]


async def test_errors_and_faults_reach_the_client_as_slack_sends_them(
    slack: SlackStandin, client: AsyncWebClient
) -> None:
    slack.fail("chat.postEphemeral", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postEphemeral(channel="C1", user="U1", text="hi")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"

    with pytest.raises(SlackApiError) as missing:
        await client.conversations_history(channel="C0NOPE")
    assert missing.value.response["error"] == "channel_not_found"

    bad = AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url, timeout=5)
    with pytest.raises(SlackApiError) as refused:
        await bad.auth_test()
    assert refused.value.response["error"] == "invalid_auth"


async def test_integer_retry_after_satisfies_slack_sdks_rate_limit_handler(
    slack: SlackStandin,
) -> None:
    handler = AsyncRateLimitErrorRetryHandler(max_retry_count=1)
    client = AsyncWebClient(
        token=slack.bot_token, base_url=slack.api_url, timeout=5, retry_handlers=[handler]
    )
    slack.fail("auth.test", status=429, retry_after=1)

    assert (await client.auth_test())["ok"]
    assert [c.status for c in slack.calls if c.method == "auth.test"] == [429, 200]


async def test_response_url_allows_five_posts(slack: SlackStandin) -> None:
    url = slack.new_response_url()
    async with aiohttp.ClientSession() as session:
        statuses = []
        for n in range(6):
            async with session.post(url, json={"text": f"answer {n}"}) as resp:
                statuses.append((resp.status, await resp.text()))
    assert statuses == [(200, "ok")] * 5 + [(404, "used_url")]
    assert [r.text for r in slack.responses_to(url)] == [f"answer {n}" for n in range(5)]
