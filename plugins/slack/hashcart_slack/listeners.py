"""Bolt listeners: turn each Slack request into one command and hand it to the core.

A 200 means recorded, on every path. Slack never redelivers a slash command, so `/cart` is
applied *before* its empty 200, within `SLASH_ACK_BUDGET` (a group commit takes milliseconds;
Slack allows 3 s): the answer is queued in the same transaction and goes to `response_url`. A
command that cannot be recorded in time is withdrawn (never applied later) and answered 503,
which Slack shows the user as a failed command. Events API deliveries are applied within
`EVENT_ACK_BUDGET` too; when that fails or runs out they are answered 503, and Slack's own
retries (same `event_id`, deduplicated by the core) bring them again.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from hashcart import Action, CartCommand, Unavailable, fault_point, has_hashtag
from hashcart_slack.commands import (
    PLATFORM,
    from_direct_message,
    from_event,
    from_slash_command,
    is_from_bot,
)
from hashcart_slack.parse import unwrap, urls_in

if TYPE_CHECKING:
    from hashcart_slack.platform import SlackPlatform

log = logging.getLogger(__name__)

#: Seconds a slash command may take to be recorded; Slack shows the user an error after 3.
SLASH_ACK_BUDGET = 2.5
#: Seconds an event may take to be recorded before Slack is asked to deliver it again.
EVENT_ACK_BUDGET = 2.0


class Result(enum.Enum):
    DONE = "done"
    RETRY = "retry"


class Listeners:
    """The Bolt listeners of one platform; Bolt injects `ack`, `body`, `event`… by name."""

    def __init__(self, platform: SlackPlatform) -> None:
        self._platform = platform
        self._core = platform.hashcart

    async def on_command(self, ack: Any, command: dict[str, Any]) -> BoltResponse | None:
        received = time.monotonic()
        cart_command = from_slash_command(command)
        await fault_point("slack.slash.received")
        left = SLASH_ACK_BUDGET - (time.monotonic() - received)
        try:
            await self._core.submit(cart_command, within=max(0.0, left))
        except Unavailable as exc:
            # Nothing was recorded and nothing will be: a 503 (a 200 would promise the command)
            # makes Slack tell the user that it failed.
            log.warning("slack: could not record %s: %s", cart_command.event_key, exc)
            self._core.count_platform_error(PLATFORM, "unavailable")
            text = self._core.translate(cart_command.locale, "reply.failed")
            body = {"error": {"code": "not_recorded", "message": text}}
            return BoltResponse(
                status=503, body=json.dumps(body), headers={"content-type": "application/json"}
            )
        await fault_point("slack.slash.recorded")
        await ack()
        return None

    async def on_link_button(self, ack: Any) -> None:
        await ack()

    async def on_uninstalled(self) -> None:
        """The app taken away in single-workspace mode; Bolt handles OAuth installations."""
        await self._platform.forget_token()

    async def on_tokens_revoked(self, event: dict[str, Any]) -> None:
        if (event.get("tokens") or {}).get("bot"):
            await self._platform.forget_token()

    async def on_message(self, body: dict[str, Any], event: dict[str, Any]) -> BoltResponse | None:
        return await self._within_budget(self._apply_message(body, event))

    async def on_reaction(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> BoltResponse | None:
        return await self._within_budget(self._apply_reaction(body, event, client))

    async def _within_budget(self, work: Any) -> BoltResponse | None:
        task: asyncio.Task[Result] = self._platform.tasks.spawn(work)
        try:
            result = await asyncio.wait_for(asyncio.shield(task), EVENT_ACK_BUDGET)
        except TimeoutError:
            # Not recorded yet: a 200 now would be lost with this node. Slack delivers the event
            # again; if this attempt still lands first, the retry finds its event id taken.
            result = Result.RETRY
        if result is Result.RETRY:
            return BoltResponse(status=503, body="")
        await fault_point("slack.event.recorded")
        return None

    async def _apply_message(self, body: Mapping[str, Any], event: Mapping[str, Any]) -> Result:
        if is_from_bot(event):
            return Result.DONE
        if event.get("channel_type") == "im":  # a direct message to the bot
            command = from_direct_message(body, event, self._platform.settings.command)
            return await self._submit(command)
        text = str(event.get("text") or "")
        if not has_hashtag(unwrap(text), self._core.settings.hashtag):
            return Result.DONE
        return await self._product_in(body, event, Action.ADD, str(event["channel"]), event)

    async def _apply_reaction(
        self, body: Mapping[str, Any], event: Mapping[str, Any], client: AsyncWebClient
    ) -> Result:
        name = str(event.get("reaction") or "").split("::")[0]
        item = event.get("item") or {}
        if name != self._platform.settings.reaction or item.get("type") != "message":
            return Result.DONE
        channel, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
        try:
            message = await fetch_message(client, channel, ts)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: could not fetch message %s/%s: %s", channel, ts, exc)
            self._core.count_platform_error(PLATFORM, "fetch")
            return Result.RETRY
        action = Action.REMOVE if event.get("type") == "reaction_removed" else Action.ADD
        return await self._product_in(body, event, action, channel, message or {})

    async def _product_in(
        self,
        body: Mapping[str, Any],
        event: Mapping[str, Any],
        action: Action,
        channel: str,
        message: Mapping[str, Any],
    ) -> Result:
        """The event's author adds (or removes) the first link in `message` that is a product;
        failing that its first link, for the core to refuse."""
        urls = urls_in(str(message.get("text") or ""))
        if not urls:
            return Result.DONE
        reference, product = urls[0], None
        for url in urls:
            if (product := await self._core.resolve_reference(url)) is not None:
                reference = url
                break
        if action is Action.REMOVE and product is None:
            return Result.DONE  # adding already said why; no second "not a product".
        command = from_event(
            body,
            action=action,
            user_id=str(event["user"]),
            channel=channel,
            reference=reference,
            product=product,
            thread_ts=message.get("thread_ts"),
        )
        return await self._submit(command)

    async def _submit(self, command: CartCommand) -> Result:
        await fault_point("slack.event.received")
        try:
            await self._core.submit(command)
        except Unavailable:
            self._core.count_platform_error(PLATFORM, "unavailable")
            return Result.RETRY
        return Result.DONE


async def fetch_message(client: AsyncWebClient, channel: str, ts: str) -> Mapping[str, Any] | None:
    """The message at `channel`/`ts`: history holds top-level messages, replies the threads."""
    history = await client.conversations_history(
        channel=channel, latest=ts, inclusive=True, limit=1
    )
    if (message := _message_at(history, ts)) is not None:
        return message
    try:
        return _message_at(await client.conversations_replies(channel=channel, ts=ts), ts)
    except SlackApiError as exc:
        if exc.response.get("error") == "thread_not_found":
            return None
        raise


def _message_at(answer: Any, ts: str) -> dict[str, Any] | None:
    return next((dict(m) for m in answer.get("messages") or () if m.get("ts") == ts), None)
