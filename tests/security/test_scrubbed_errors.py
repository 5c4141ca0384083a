"""Tokens never reach the outbox's recorded errors (which the admin API shows) nor the logs."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from hashcart import SendRefused
from hashcart.scrub import scrub
from hashcart.testing import RunningHashcart, eventually
from tests.core.fakes import FakePlatform, command

INTERACTION_TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OnNlY3JldA"
RESPONSE_URL = "https://hooks.slack.com/commands/T0001/1234567890/vI8k8Rt1ZdVCvQ9KwC1iJ5Bn"
BEARER = "AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid"


def _discord_error() -> aiohttp.ClientResponseError:
    """What aiohttp raises when Discord refuses a follow-up: its text quotes the URL."""
    url = URL(f"https://discord.com/api/v10/webhooks/1122334455/{INTERACTION_TOKEN}")
    info = aiohttp.RequestInfo(url, "POST", CIMultiDictProxy(CIMultiDict()), url)
    return aiohttp.ClientResponseError(info, (), status=404, message="Unknown Webhook")


@pytest.mark.parametrize(
    ("failure", "secret"),
    [
        (_discord_error(), INTERACTION_TOKEN),
        (SendRefused(f"POST {RESPONSE_URL} gave 404 expired_url"), "vI8k8Rt1ZdVCvQ9KwC1iJ5Bn"),
        (SendRefused(f"401 with Authorization: Bearer {BEARER}"), BEARER),
    ],
)
async def test_discord_interaction_token_never_lands_in_last_error(
    hc: RunningHashcart,
    fake_platform: FakePlatform,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
    secret: str,
):
    """The attack: whoever reads the admin API's outbox (or the logs) replays the token."""
    caplog.set_level(logging.INFO)
    await hc.link("alice", "fake", "u1")
    fake_platform.failures = [failure] * 20
    await hc.hashcart.submit(command(event_id="x1"))

    async def recorded() -> str | None:
        rows = await hc.outbox()
        return rows[0]["last_error"] if rows and rows[0]["last_error"] else None

    last_error = await eventually(recorded)
    assert secret not in last_error and "…" in last_error
    assert secret not in caplog.text


def test_scrub_keeps_the_message_readable():
    assert scrub("HTTP 503 from https://api.x.com/2/tweets") == (
        "HTTP 503 from https://api.x.com/2/tweets"
    )
    assert scrub("url='https://user:pw@db.example/x?token=abc&x=1'") == (
        "url='https://…@db.example/x?token=…&x=…'"
    )
    assert scrub("token=xoxb-1-2-abc") == "token=…"
    assert "snowflake 112233445566778899" in scrub("snowflake 112233445566778899")
