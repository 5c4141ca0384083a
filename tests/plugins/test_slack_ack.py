"""A 200 to Slack means recorded, on every path (issue 14), on SQLite and PostgreSQL.

Slack never redelivers a slash command, so its empty 200 may go out only once the command is in
the database; a command that cannot be recorded in time is answered 503 and never applied. An
Events API delivery that cannot be recorded in time is answered 503 so that Slack retries it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import hashcart_slack
from hashcart.testing import RunningHashcart, eventually, running_hashcart
from hashcart_slack import listeners
from hashcart_slack.testing import SlackStandin, message_event

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


async def echo_quantity(hc: RunningHashcart) -> int:
    items = await hc.cart("slack", f"T0001:{ALICE}") or []
    return sum(item["quantity"] for item in items if item["product_id"] == "amazon:B00X4WHP5E")


def stall_applier(hc: RunningHashcart, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Hold every group the applier takes until the returned gate opens: a database that has
    slowed to a crawl. Commands still queued behind the held ones are not taken yet."""
    applier: Any = hc.hashcart.applier
    real: Callable[[list[Any]], Awaitable[None]] = applier._run
    gate = asyncio.Event()

    async def held(batch: list[Any]) -> None:
        await gate.wait()
        await real(batch)

    monkeypatch.setattr(applier, "_run", held)
    return gate


async def test_slash_command_200_comes_only_after_it_is_recorded(
    hc: RunningHashcart, slack: SlackStandin
) -> None:
    """The issue's loss: acknowledged first and applied after, a node killed in between lost the
    add for good. Right after the 200 the command must already be in the database."""
    delivery = await slack.slash_command(events_url(hc), f"add <{ECHO}>")

    assert (delivery.status, delivery.body) == (200, "")
    recorded = {event["event_key"] for event in await hc.events()}
    assert f"slack:{delivery.trigger_id}" in recorded
    assert await echo_quantity(hc) == 1
    (answer,) = await eventually(lambda: slack.responses_to(delivery.response_url))
    assert "Echo Dot" in answer.text


async def test_slash_commands_not_recorded_in_time_get_503_and_are_never_applied_later(
    hc: RunningHashcart, slack: SlackStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow database: a command already inside a transaction when the budget runs out is
    waited for (and acknowledged); one still queued is withdrawn: 503, and nothing later."""
    monkeypatch.setattr(listeners, "SLASH_ACK_BUDGET", 0.5)
    gate = stall_applier(hc, monkeypatch)

    sent = []
    for _ in range(4):  # one at a time, so that each idle worker takes one and is held
        sent.append(asyncio.create_task(slack.slash_command(events_url(hc), f"add <{ECHO}>")))
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.8)
    gate.set()
    deliveries = await asyncio.gather(*sent)

    acknowledged = [d for d in deliveries if d.status == 200]
    refused = [d for d in deliveries if d.status != 200]
    assert acknowledged and refused, [d.status for d in deliveries]
    assert all(d.body == "" for d in acknowledged)
    assert all(d.status == 503 and d.json()["error"]["code"] == "not_recorded" for d in refused)
    for delivery in acknowledged:
        await eventually(lambda d=delivery: slack.responses_to(d.response_url))  # type: ignore[misc]
    await asyncio.sleep(0.5)  # room for a withdrawn command to show up, if it could
    assert await echo_quantity(hc) == len(acknowledged)
    assert all(len(slack.responses_to(d.response_url)) == 1 for d in acknowledged)
    assert all(slack.responses_to(d.response_url) == [] for d in refused)
    recorded = {event["event_key"] for event in await hc.events()}
    assert not recorded & {f"slack:{d.trigger_id}" for d in refused}


async def test_event_not_recorded_in_time_gets_503_and_slacks_retry_applies_it_once(
    hc: RunningHashcart, slack: SlackStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acknowledging a slow event before it was recorded lost it with the node: Slack does not
    retry what it got a 200 for. Now Slack is asked to retry, and the event id dedups."""
    monkeypatch.setattr(listeners, "EVENT_ACK_BUDGET", 0.3)
    gate = stall_applier(hc, monkeypatch)
    event = message_event(f"#amazoncart <{ECHO}>")

    first = await slack.send_event(events_url(hc), event)
    assert first.status == 503
    gate.set()
    retry = await slack.send_event(events_url(hc), event, event_id=first.event_id, retry_num=1)

    assert retry.status == 200
    assert await echo_quantity(hc) == 1
    await eventually(lambda: slack.ephemerals)
    await asyncio.sleep(0.3)
    assert len(slack.ephemerals) == 1


async def test_slash_command_that_cannot_even_be_prepared_in_time_gets_503_and_nothing_later(
    hc: RunningHashcart, slack: SlackStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The budget counts from the request's arrival: a node that stalls before recording (here
    at the `slack.slash.received` fault point) answers 503 and never applies the command."""
    from hashcart import faults  # the fault points a crash test would set by environment

    monkeypatch.setattr(listeners, "SLASH_ACK_BUDGET", 0.3)
    monkeypatch.setattr(faults._points, "delays", {"slack.slash.received": 0.5})
    delivery = await slack.slash_command(events_url(hc), f"add <{ECHO}>")

    assert delivery.status == 503
    await asyncio.sleep(0.5)
    assert await echo_quantity(hc) == 0
    assert slack.responses_to(delivery.response_url) == []
    assert f"slack:{delivery.trigger_id}" not in {e["event_key"] for e in await hc.events()}
