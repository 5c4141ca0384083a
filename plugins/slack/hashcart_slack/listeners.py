"""Bolt listeners: turn each Slack request into one command and hand it to the core.

The slash command is acknowledged at once (an empty 200) and applied right after, so Slack never
waits on the database. Events API deliveries are applied *before* the acknowledgement when that
takes less than `EVENT_ACK_BUDGET`: a failure then answers 503 and Slack's own retries (same
`event_id`, deduplicated by the core) pick it up; a slow one is acknowledged and finishes later.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from hashcart import Action, CartCommand, ProductRef, Unavailable, has_hashtag
from hashcart_slack.commands import PLATFORM, from_event, from_slash_command, is_from_bot
from hashcart_slack.parse import unwrap, urls_in

if TYPE_CHECKING:
    from hashcart_slack.platform import SlackPlatform

log = logging.getLogger(__name__)

#: Seconds an event may take before it is acknowledged anyway (Slack gives up at 3).
EVENT_ACK_BUDGET = 2.0


class Result(enum.Enum):
    DONE = "done"
    RETRY = "retry"


class Listeners:
    """The Bolt listeners of one platform; Bolt injects `ack`, `body`, `event`… by name."""

    def __init__(self, platform: SlackPlatform) -> None:
        self._platform = platform
        self._core = platform.hashcart

    # -- slash command ------------------------------------------------------------------------

    async def on_command(self, ack: Any, command: dict[str, Any]) -> None:
        cart_command = from_slash_command(command)
        await ack()
        self._platform.spawn(self._apply_slash(cart_command))

    async def _apply_slash(self, command: CartCommand) -> None:
        try:
            await self._core.submit(command)
        except Unavailable:
            # Slack does not redeliver slash commands; say so now, straight to response_url.
            log.warning("slack: could not record %s, told the user to try again", command.event_key)
            self._core.count_platform_error(PLATFORM, "unavailable")
            text = self._core.translate(command.locale, "reply.failed")
            await self._platform.post_response(command.reply_to.channel or "", {"text": text})

    async def on_link_button(self, ack: Any) -> None:
        await ack()

    # -- Events API ---------------------------------------------------------------------------

    async def on_message(self, body: dict[str, Any], event: dict[str, Any]) -> BoltResponse | None:
        return await self._within_budget(self._apply_message(body, event))

    async def on_reaction(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> BoltResponse | None:
        return await self._within_budget(self._apply_reaction(body, event, client))

    async def _within_budget(self, work: Any) -> BoltResponse | None:
        task: asyncio.Task[Result] = self._platform.spawn(work)
        try:
            result = await asyncio.wait_for(asyncio.shield(task), EVENT_ACK_BUDGET)
        except TimeoutError:
            return None
        if result is Result.RETRY:
            return BoltResponse(status=503, body="")
        return None

    async def _apply_message(self, body: Mapping[str, Any], event: Mapping[str, Any]) -> Result:
        if is_from_bot(event):
            return Result.DONE
        text = str(event.get("text") or "")
        if not has_hashtag(unwrap(text), self._core.settings.hashtag):
            return Result.DONE
        urls = urls_in(text)
        if not urls:
            return Result.DONE
        reference, product = await self._pick_product(urls)
        command = from_event(
            body,
            action=Action.ADD,
            user_id=str(event["user"]),
            channel=str(event["channel"]),
            reference=reference,
            product=product,
            thread_ts=event.get("thread_ts"),
        )
        return await self._submit(command)

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
        urls = urls_in(str((message or {}).get("text") or ""))
        if not urls:
            return Result.DONE
        reference, product = await self._pick_product(urls)
        removed = event.get("type") == "reaction_removed"
        if removed and product is None:
            return Result.DONE  # adding already said why; no second "not a product".
        command = from_event(
            body,
            action=Action.REMOVE if removed else Action.ADD,
            user_id=str(event["user"]),
            channel=channel,
            reference=reference,
            product=product,
            thread_ts=(message or {}).get("thread_ts"),
        )
        return await self._submit(command)

    async def _pick_product(self, urls: list[str]) -> tuple[str, ProductRef | None]:
        """The first link that is a product; failing that the first link, for the core to refuse."""
        for url in urls:
            ref = await self._core.resolve_reference(url)
            if ref is not None:
                return url, ref
        return urls[0], None

    async def _submit(self, command: CartCommand) -> Result:
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
    for message in history.get("messages") or ():
        if message.get("ts") == ts:
            return dict(message)
    try:
        thread = await client.conversations_replies(channel=channel, ts=ts)
    except SlackApiError as exc:
        if exc.response.get("error") == "thread_not_found":
            return None
        raise
    for message in thread.get("messages") or ():
        if message.get("ts") == ts:
            return dict(message)
    return None
