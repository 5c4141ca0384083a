"""Multi-workspace mode: Bolt's OAuth flow with installations kept in hashcart's database.

A workspace installs through `/slack/install` → Slack's consent page (skipped here: the stand-in
hands out the code) → `/slack/oauth_redirect`; afterwards its commands and events are served with
that workspace's own bot token.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

import hashcart_slack
from hashcart.testing import RunningHashcart, eventually, running_hashcart
from hashcart_slack.testing import SlackStandin, message_event

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        yield standin


@pytest.fixture
async def hc(slack: SlackStandin) -> AsyncIterator[RunningHashcart]:
    env = {
        "HASHCART_SLACK_SIGNING_SECRET": slack.signing_secret,
        "HASHCART_SLACK_CLIENT_ID": slack.client_id,
        "HASHCART_SLACK_CLIENT_SECRET": slack.client_secret,
        "HASHCART_SLACK_API_URL": slack.api_url,
    }
    async with running_hashcart(plugins=[hashcart_slack], env=env) as running:
        await running.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        yield running


async def install(hc: RunningHashcart, slack: SlackStandin, team_id: str) -> aiohttp.ClientResponse:
    """Walk the browser through the install page and back from Slack with a code."""
    async with aiohttp.ClientSession() as browser:
        async with browser.get(f"{hc.url}/slack/install") as page:
            assert page.status == 200
            html = await page.text()
            # The state cookie is `Secure`; a browser on https would send it back, so do that.
            state_cookie = {name: morsel.value for name, morsel in page.cookies.items()}
        authorize = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', html)
        assert authorize is not None, html
        query = parse_qs(urlsplit(authorize.group(1).replace("&amp;", "&")).query)
        assert query["client_id"] == [slack.client_id]
        assert "reactions:read" in query["scope"][0]
        code = slack.oauth_code(team_id)
        async with browser.get(
            f"{hc.url}/slack/oauth_redirect",
            params={"code": code, "state": query["state"][0]},
            headers={"Cookie": "; ".join(f"{k}={v}" for k, v in state_cookie.items())},
            allow_redirects=False,
        ) as done:
            await done.read()
            return done


async def test_install_then_commands_and_events_use_that_workspace(
    hc: RunningHashcart, slack: SlackStandin
) -> None:
    slack.team_id = "T0SECOND"
    done = await install(hc, slack, "T0SECOND")
    assert done.status == 200
    await hc.link("erin", "slack", "T0SECOND:U0ERIN")

    delivery = await slack.slash_command(
        f"{hc.url}/slack/events", f"add <{ECHO}>", user_id="U0ERIN"
    )
    assert (delivery.status, delivery.body) == (200, "")
    (answer,) = await eventually(lambda: slack.responses_to(delivery.response_url))
    assert "Echo Dot" in answer.text

    await slack.send_event(
        f"{hc.url}/slack/events", message_event(f"#amazoncart <{ECHO}>", user="U0ERIN")
    )
    await eventually(lambda: slack.ephemerals)
    (posted,) = slack.calls_to("chat.postEphemeral")
    assert slack.tokens[str(posted.token)] == "T0SECOND"
    assert (await hc.cart("slack", "T0SECOND:U0ERIN") or [{}])[0]["quantity"] == 2


async def test_install_with_a_forged_state_is_refused(
    hc: RunningHashcart, slack: SlackStandin
) -> None:
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(
            f"{hc.url}/slack/oauth_redirect",
            params={"code": slack.oauth_code("T0EVIL"), "state": "forged"},
        ) as done,
    ):
        assert done.status >= 400
    assert not any(team == "T0EVIL" for team in slack.tokens.values())


async def test_a_workspace_that_never_installed_is_not_served(
    hc: RunningHashcart, slack: SlackStandin
) -> None:
    slack.team_id = "T0UNKNOWN"
    delivery = await slack.slash_command(f"{hc.url}/slack/events", f"add <{ECHO}>")

    assert delivery.status == 200
    # Bolt itself tells the user to (re)install the app; hashcart records nothing.
    (answer,) = await eventually(lambda: slack.responses_to(delivery.response_url))
    assert "install" in answer.text
    assert await hc.events() == []
