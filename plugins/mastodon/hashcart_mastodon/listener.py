"""Ingestion: the streaming API for speed, a catch-up over the notifications API for safety.

On every (re)connect the stream is opened first and the notifications since the stored cursor
are read next, so nothing that arrives in between is missed; then the stream is followed.
Notifications are handled one at a time, oldest first, and the cursor (kept in hashcart's
key-value store) moves only once a command is durable, so a crash or a restart repeats at most
a few notifications, which the core's event-id dedupe makes harmless. A fresh install starts
from the newest mention: it does not answer the bot's whole history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from hashcart import (
    Action,
    CartCommand,
    Host,
    Unavailable,
    backoff_delay,
    doubling,
    fault_point,
    reconnecting,
    retrying,
)
from hashcart_mastodon.client import Json, MastodonClient, MastodonError, decode, id_key, sse_events
from hashcart_mastodon.settings import MastodonSettings
from hashcart_mastodon.statuses import PLATFORM, status_links, trigger_from

log = logging.getLogger(__name__)

NAMESPACE = "mastodon"
MAX_DELAY = 60.0


class Listener:
    """Owns the task that keeps the bot listening for as long as hashcart runs."""

    def __init__(self, client: MastodonClient, hashcart: Host, settings: MastodonSettings) -> None:
        self._client = client
        self._hashcart = hashcart
        self._cursor_key = f"cursor {settings.api_url}"
        self._first_delay = settings.reconnect_seconds
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._cursor: str | None = None
        self.bot_id: str | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._stop.clear()
        listening = reconnecting(self._listen, stop=self._stop, delay=self._delay)
        self._task = asyncio.create_task(listening, name="hashcart-mastodon-listener")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.connected.clear()

    async def _listen(self, connected: Callable[[], None]) -> None:
        try:
            await self._prepare()
            async with self._client.notification_stream() as response:
                await self._catch_up()
                self.connected.set()
                connected()
                log.info("mastodon: streaming notifications")
                async for event, data in sse_events(response):
                    if event == "notification":
                        await self._on_stream(data)
            log.info("mastodon: the stream ended; reconnecting")
        finally:
            self.connected.clear()

    def _delay(self, error: Exception | None, failures: int) -> float:
        """Whatever happens, the bot keeps listening; Mastodon's rate-limit reset is honoured."""
        retry_after = None
        if isinstance(error, MastodonError):
            log.warning("mastodon: %s", error.reason)
            self._hashcart.count_platform_error(PLATFORM, f"stream_{error.kind.value}")
            retry_after = error.retry_after
        elif isinstance(error, OSError | TimeoutError | ValueError):
            log.warning("mastodon: stream dropped: %r", error)
            self._hashcart.count_platform_error(PLATFORM, "stream_network")
        elif error is not None:
            log.error("mastodon: the listener failed; reconnecting", exc_info=error)
            self._hashcart.count_platform_error(PLATFORM, "listener_failed")
        delay = backoff_delay(failures, first=self._first_delay, cap=MAX_DELAY)
        return max(delay, retry_after or 0.0)

    async def _prepare(self) -> None:
        """Learn the bot's own id and where reading starts, once per listener."""
        if self.bot_id is None:
            self.bot_id = str((await self._client.verify_credentials())["id"])
        if self._cursor is None:
            stored = await self._hashcart.kv.get(NAMESPACE, self._cursor_key)
            if stored is None:
                newest = await self._client.mentions(limit=1)
                stored = newest[-1]["id"] if newest else "0"
                await self._hashcart.kv.put(NAMESPACE, self._cursor_key, stored)
            self._cursor = str(stored)

    async def _catch_up(self) -> None:
        while not self._stop.is_set():
            page = await self._client.mentions(min_id=self._cursor)
            if not page:
                return
            for notification in page:
                await self._handle(notification)

    async def _on_stream(self, data: str) -> None:
        notification = decode(data)
        if notification is None or "id" not in notification:
            log.warning("mastodon: the stream sent a notification that is not JSON")
            self._hashcart.count_platform_error(PLATFORM, "bad_event")
            return
        await self._handle(notification)

    async def _record(self, notification: Json) -> None:
        command = await self._command_for(notification)
        if command is not None:
            # Received, not yet recorded: a node that dies here leaves the cursor
            # behind this notification, so the next listener reads it again.
            await fault_point("mastodon.received")
            await self._hashcart.submit(command)

    def _not_yet(self, notification_id: str, exc: Exception) -> None:
        if isinstance(exc, MastodonError):
            log.warning("mastodon: notification %s waits for Mastodon: %s", notification_id, exc)
            self._hashcart.count_platform_error(PLATFORM, f"lookup_{exc.kind.value}")
        else:
            log.warning("mastodon: notification %s not recorded yet: %s", notification_id, exc)
            self._hashcart.count_platform_error(PLATFORM, "unavailable")

    async def _handle(self, notification: Json) -> None:
        """Record one notification's command, retrying while the database or Mastodon is away."""
        notification_id = str(notification["id"])
        if self._cursor is not None and id_key(notification_id) <= id_key(self._cursor):
            return  # caught up already
        if self._stop.is_set():
            return
        try:
            await retrying(
                lambda: self._record(notification),
                delays=doubling(self._first_delay, MAX_DELAY),
                retry_on=(Unavailable, MastodonError),  # only transient lookups get this far
                on_retry=lambda exc: self._not_yet(notification_id, exc),
                pause=self._pause,
                stop=self._stop,
            )
        except (Unavailable, MastodonError):
            return  # stopped before it was recorded: the next start catches up from the cursor
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("mastodon: malformed notification %s skipped: %s", notification_id, exc)
            self._hashcart.count_platform_error(PLATFORM, "bad_event")
        self._cursor = notification_id
        try:
            await self._hashcart.kv.put(NAMESPACE, self._cursor_key, notification_id)
        except Exception as exc:
            # The command is recorded; only the stored cursor lags. The next notification
            # stores it, and until then a restart reads a few recorded ones again, harmlessly.
            log.warning("mastodon: cursor %s not stored yet: %s", notification_id, exc)
            self._hashcart.count_platform_error(PLATFORM, "cursor_not_stored")

    async def _command_for(self, notification: Json) -> CartCommand | None:
        """Links in the asking status win; then those in the status it replies to."""
        trigger = trigger_from(
            notification, hashtag=self._hashcart.settings.hashtag, bot_id=self.bot_id
        )
        if trigger is None:
            return None
        if trigger.verb is not Action.ADD:
            return trigger.command(None)
        first_link: str | None = None
        for links in (trigger.links, await self._parent_links(trigger.parent_id)):
            for url in links:
                first_link = first_link or url
                ref = await self._hashcart.resolve_reference(url)
                if ref is not None:
                    return trigger.command(url, ref)
        return trigger.command(first_link) if first_link else None

    async def _parent_links(self, parent_id: str | None) -> tuple[str, ...]:
        if parent_id is None:
            return ()
        try:
            parent = await self._client.get_status(parent_id)
        except MastodonError as exc:
            if exc.transient:
                raise
            log.info("mastodon: status %s cannot be read: %s", parent_id, exc.reason)
            return ()
        return status_links(parent) if parent else ()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
