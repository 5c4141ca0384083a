"""Direct messages to the bot, and a workspace taking the app away.

`message.im` text such as `add <link>`, `list` or `help` is the same command as `/cart …` and is
answered in that conversation. After `app_uninstalled` or `tokens_revoked` nothing is sent to
that workspace any more: its token is forgotten (OAuth installations) or marked dead (the one
configured token).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

import hashcart_slack
from hashcart.testing import RunningHashcart, eventually, running_hashcart
from hashcart_slack.testing import (
    SlackStandin,
    app_uninstalled_event,
    direct_message_event,
    message_event,
    tokens_revoked_event,
)

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"
ALICE = "U0ALICE"


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        yield standin


@pytest.fixture
async def hc(slack: SlackStandin, database_url: str) -> AsyncIterator[RunningHashcart]:
    env = {
        "HASHCART_SLACK_SIGNING_SECRET": slack.signing_secret,
        "HASHCART_SLACK_BOT_TOKEN": slack.bot_token,
        "HASHCART_SLACK_API_URL": slack.api_url,
    }
    async with running_hashcart(
        plugins=[hashcart_slack], env=env, database_url=database_url
    ) as running:
        await running.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        await running.link("alice", "slack", f"T0001:{ALICE}")  # team + user
        yield running


def events_url(hc: RunningHashcart) -> str:
    return f"{hc.url}/slack/events"


def posted_in(slack: SlackStandin, channel: str) -> list[str]:
    return [str(c.params.get("text")) for c in slack.calls_to("chat.postMessage")
            if c.params.get("channel") == channel]  # fmt: skip


async def quantity(hc: RunningHashcart, user_id: str = ALICE) -> int:
    return sum(item["quantity"] for item in await hc.cart("slack", f"T0001:{user_id}") or [])


# ---------------------------------------------------------------------------------------------
# message.im
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [f"add <{ECHO}|amazon.com/dp/B00X4WHP5E>", f"/cart add <{ECHO}>"])
async def test_direct_message_add_is_a_command_answered_in_that_dm(
    hc: RunningHashcart, slack: SlackStandin, text: str
) -> None:
    delivery = await slack.send_event(events_url(hc), direct_message_event(text))

    assert delivery.status == 200
    assert await quantity(hc) == 1
    (answer,) = await eventually(lambda: posted_in(slack, "D0ALICE"))
    assert "Echo Dot" in answer
    assert slack.ephemerals == []


async def test_a_link_pasted_on_its_own_in_a_dm_is_added(
    hc: RunningHashcart, slack: SlackStandin
) -> None:
    await slack.send_event(events_url(hc), direct_message_event(f"<{ECHO}> please"))
    (answer,) = await eventually(lambda: posted_in(slack, "D0ALICE"))
    assert "Echo Dot" in answer
    assert await quantity(hc) == 1


async def test_direct_message_list_and_help(hc: RunningHashcart, slack: SlackStandin) -> None:
    await slack.send_event(events_url(hc), direct_message_event(f"add <{ECHO}> 2"))
    await eventually(lambda: posted_in(slack, "D0ALICE"))
    await slack.send_event(events_url(hc), direct_message_event("list"))
    await slack.send_event(events_url(hc), direct_message_event("help"))

    answers = await eventually(lambda: (lambda a: a if len(a) == 3 else None)(
        posted_in(slack, "D0ALICE")))  # fmt: skip
    assert "Echo Dot" in answers[1]
    assert "checkout" in answers[2] and "forget" in answers[2]


async def test_direct_message_without_hashtag_is_a_command_but_a_channel_message_is_not(
    hc: RunningHashcart, slack: SlackStandin
) -> None:
    await slack.send_event(events_url(hc), message_event(f"add <{ECHO}>"))
    await asyncio.sleep(0.3)
    assert await quantity(hc) == 0
    assert slack.calls_to("chat.postMessage") == [] and slack.ephemerals == []


async def test_the_bots_own_direct_messages_are_not_commands(
    hc: RunningHashcart, slack: SlackStandin
) -> None:
    event = direct_message_event(f"add <{ECHO}>", user="U0BOT", bot_id="B0BOT")
    await slack.send_event(events_url(hc), event)
    await asyncio.sleep(0.3)
    assert await quantity(hc) == 0
    assert slack.calls_to("chat.postMessage") == []


async def test_direct_message_retry_is_applied_once(
    hc: RunningHashcart, slack: SlackStandin
) -> None:
    event = direct_message_event(f"add <{ECHO}>")
    first = await slack.send_event(events_url(hc), event)
    again = await slack.send_event(events_url(hc), event, event_id=first.event_id, retry_num=1)
    assert (first.status, again.status) == (200, 200)
    await eventually(lambda: posted_in(slack, "D0ALICE"))
    await asyncio.sleep(0.3)
    assert await quantity(hc) == 1
    assert len(posted_in(slack, "D0ALICE")) == 1


# ---------------------------------------------------------------------------------------------
# The app taken away: single-workspace mode
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event", [app_uninstalled_event(), tokens_revoked_event(bot=["U0BOT"])], ids=["app", "bot"]
)
async def test_uninstalled_workspace_gets_nothing_more(
    hc: RunningHashcart, slack: SlackStandin, event: dict[str, Any]
) -> None:
    assert (await slack.send_event(events_url(hc), event)).status == 200

    # Even while Slack would still take the old token (a late event, another node's queue),
    # the answer is refused rather than sent or retried.
    await slack.send_event(events_url(hc), message_event(f"#amazoncart <{ECHO}>"))
    await slack.send_event(events_url(hc), direct_message_event("list"))
    rows = await eventually(lambda: _settled(hc, 2), timeout=5)
    assert all(row["status"] != "sent" for row in rows), rows
    assert slack.ephemerals == [] and slack.calls_to("chat.postMessage") == []


async def _settled(hc: RunningHashcart, count: int) -> list[dict[str, Any]] | None:
    rows = await hc.outbox()
    if len(rows) == count and all(row["status"] != "pending" for row in rows):
        return rows
    return None


async def test_tokens_revoked_for_a_user_token_only_keeps_sending(
    hc: RunningHashcart, slack: SlackStandin
) -> None:
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["U0SOMEONE"]}}
    assert (await slack.send_event(events_url(hc), event)).status == 200
    await slack.send_event(events_url(hc), message_event(f"#amazoncart <{ECHO}>"))
    await eventually(lambda: slack.ephemerals)


# ---------------------------------------------------------------------------------------------
# The app taken away: OAuth installations
# ---------------------------------------------------------------------------------------------


@pytest.fixture
async def multi(slack: SlackStandin, database_url: str) -> AsyncIterator[RunningHashcart]:
    env = {
        "HASHCART_SLACK_SIGNING_SECRET": slack.signing_secret,
        "HASHCART_SLACK_CLIENT_ID": slack.client_id,
        "HASHCART_SLACK_CLIENT_SECRET": slack.client_secret,
        "HASHCART_SLACK_API_URL": slack.api_url,
    }
    async with running_hashcart(
        plugins=[hashcart_slack], env=env, database_url=database_url
    ) as running:
        await running.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        yield running


async def install(hc: RunningHashcart, slack: SlackStandin, team_id: str) -> None:
    async with aiohttp.ClientSession() as browser:
        async with browser.get(f"{hc.url}/slack/install") as page:
            html = await page.text()
            cookies = {name: morsel.value for name, morsel in page.cookies.items()}
        found = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', html)
        assert found is not None
        state = parse_qs(urlsplit(found.group(1).replace("&amp;", "&")).query)["state"][0]
        async with browser.get(
            f"{hc.url}/slack/oauth_redirect",
            params={"code": slack.oauth_code(team_id), "state": state},
            headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
            allow_redirects=False,
        ) as done:
            assert done.status == 200


@pytest.mark.parametrize("how", ["uninstall", "revoke"])
async def test_uninstalled_oauth_workspace_is_forgotten_and_others_still_served(
    multi: RunningHashcart, slack: SlackStandin, how: str
) -> None:
    await install(multi, slack, "T0GONE")
    await install(multi, slack, "T0STAYS")
    await multi.link("erin", "slack", "T0STAYS:U0ERIN")
    store = multi.hashcart.platforms["slack"].installations
    assert store is not None

    taken_away = slack.uninstall if how == "uninstall" else slack.revoke_bot_token
    assert (await taken_away(events_url(multi), "T0GONE")).status == 200

    assert await store.async_find_bot(enterprise_id=None, team_id="T0GONE") is None
    assert await store.async_find_bot(enterprise_id=None, team_id="T0STAYS") is not None
    event = message_event(f"#amazoncart <{ECHO}>", user="U0ERIN")
    await slack.send_event(events_url(multi), event, team_id="T0STAYS")
    (posted,) = await eventually(lambda: slack.calls_to("chat.postEphemeral"))
    assert slack.tokens[str(posted.token)] == "T0STAYS"
