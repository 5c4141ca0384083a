"""Catching up after a crash: Discord does not replay gateway events to a new session.

So the plugin remembers the messages it saw a cart reaction on and, after each fresh IDENTIFY,
compares who reacts on them (over REST) with the standing reaction states, which make applying
the difference idempotent. docs/guarantees.md says what this covers and what it cannot.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import discord

from hashcart import Host
from hashcart_discord.cache import Lru
from hashcart_discord.reactions import PLATFORM, message_state_prefix, parse_state_key
from hashcart_discord.settings import EmojiSpec

log = logging.getLogger(__name__)

KV_REACTED = "discord.reacted"
#: Discord's largest page of reaction users.
PAGE = 100
#: Reactors read per message at most (a runaway message must not hold the pass up for hours).
MAX_REACTORS = 5_000
#: Messages compared per pass at most, the most recent first.
MAX_MESSAGES = 1_000
#: How often a rate limit longer than discord.py waits out itself is waited out here.
RATE_LIMIT_TRIES = 3
MAX_RATE_LIMIT_WAIT = 60.0


@dataclass(frozen=True, slots=True)
class SeenMessage:
    """A message someone put a cart reaction on: what REST needs to read its reactions."""

    guild_id: int | None
    channel_id: int
    message_id: int

    @property
    def key(self) -> str:
        return f"{self.guild_id or 0}:{self.channel_id}:{self.message_id}"

    @classmethod
    def parse(cls, key: str) -> SeenMessage | None:
        parts = key.split(":")
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            return None
        guild, channel, message = (int(part) for part in parts)
        return cls(guild or None, channel, message)

    def on_shard(self, shard_id: int, shard_count: int) -> bool:
        """Discord's formula; DMs go to shard 0."""
        if self.guild_id is None:
            return shard_id == 0
        return (self.guild_id >> 22) % shard_count == shard_id


class SeenMessages:
    """The messages seen with a cart reaction in the last `minutes`, kept in the database so a
    new process knows them; a popular message is written once every third of the window.

    A reaction waits until its message is written, but the messages that arrive while one write
    is in flight go out together in the next, as one key listing them: a burst costs a handful
    of transactions instead of one per reaction (on SQLite these queued behind the applier's).
    """

    def __init__(self, host: Host, minutes: int) -> None:
        self._host = host
        self._ttl = minutes * 60.0 * 4 / 3  # refreshed every third: always covers `minutes`
        self._written: Lru[str, bool] = Lru(size=4096, ttl=max(minutes * 60.0 / 3, 1.0))
        self._next: set[str] = set()
        self._next_written: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    async def remember(self, seen: SeenMessage) -> None:
        if self._ttl <= 0 or self._written.peek(seen.key):
            return
        if self._next_written is None:
            self._next_written = asyncio.get_running_loop().create_future()
        written = self._next_written
        self._next.add(seen.key)
        if self._writer is None:
            self._writer = self._host.spawn(self._write())
        try:
            await asyncio.shield(written)
        except Exception as exc:  # the reaction itself still goes through; only catching up suffers
            self._host.count_platform_error(PLATFORM, "remember")
            log.warning("discord: could not remember message %s: %s", seen.message_id, exc)
            return
        self._written.put(seen.key, True)

    async def _write(self) -> None:
        """Write batches until none waits; a write cut short fails its waiters, not hangs them."""
        written: asyncio.Future[None] | None = None
        try:
            while self._next_written is not None:
                keys, written = sorted(self._next), self._next_written
                self._next, self._next_written = set(), None
                try:
                    await self._host.kv.put(KV_REACTED, secrets.token_hex(8), keys, ttl=self._ttl)
                except Exception as exc:
                    written.set_exception(exc)
                else:
                    written.set_result(None)
        finally:
            self._writer = None
            for waiting in (written, self._next_written):
                if waiting is not None and not waiting.done():
                    waiting.set_exception(RuntimeError("stopped while writing"))
            self._next, self._next_written = set(), None

    async def recent(self) -> list[SeenMessage]:
        """Newest message first (snowflakes grow with time)."""
        keys: set[str] = set()
        for batch in await self._host.kv.keys(KV_REACTED):
            listed = await self._host.kv.get(KV_REACTED, batch)
            keys.update(listed if isinstance(listed, list) else [batch])  # older: one key a message
        found = (SeenMessage.parse(key) for key in keys)
        return sorted((s for s in found if s is not None), key=lambda s: -s.message_id)


#: Apply one reaction state for (message, user, removed); the platform's own reaction path.
ApplyState = Callable[[SeenMessage, int, bool], Awaitable[None]]


class Reconciler:
    def __init__(
        self,
        host: Host,
        emoji: EmojiSpec,
        seen: SeenMessages,
        apply: ApplyState,
        last_live: Lru[tuple[int, int], float],
    ) -> None:
        self._host = host
        self._emoji = emoji
        self._seen = seen
        self._apply = apply
        self._last_live = last_live

    async def run(self, client: discord.Client, shard_id: int, shard_count: int) -> None:
        """One pass over the remembered messages of one shard."""
        self._host.count_platform_event(PLATFORM, "reconcile_runs")
        recent = [s for s in await self._seen.recent() if s.on_shard(shard_id, shard_count)]
        if len(recent) > MAX_MESSAGES:
            self._host.count_platform_event(
                PLATFORM, "reconcile_skipped_messages", len(recent) - MAX_MESSAGES
            )
            recent = recent[:MAX_MESSAGES]
        for seen in recent:
            try:
                await self._message(client, seen)
            except (discord.NotFound, discord.Forbidden) as exc:
                # Deleted, or no longer readable: nothing to compare with.
                log.info("discord: cannot read the reactions on %s: %s", seen.message_id, exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._host.count_platform_error(PLATFORM, "reconcile")
                log.warning("discord: catching up on message %s failed: %s", seen.message_id, exc)
            else:
                self._host.count_platform_event(PLATFORM, "reconcile_messages")

    async def _message(self, client: discord.Client, seen: SeenMessage) -> None:
        began = time.monotonic()
        reactors = await self._reactors(client, seen)
        standing = set()
        for key in await self._host.standing_states(message_state_prefix(seen.message_id)):
            parsed = parse_state_key(key)
            if parsed is not None and parsed[2] == self._emoji.key:
                standing.add(parsed[1])
        changes = [(user, False) for user in sorted(reactors - standing)]
        changes += [(user, True) for user in sorted(standing - reactors)]
        for user, removed in changes:
            if (self._last_live.peek((seen.message_id, user)) or 0.0) > began:
                continue  # a live event since the snapshot is newer than it
            await self._apply(seen, user, removed)
            kind = "reconcile_removed" if removed else "reconcile_added"
            self._host.count_platform_event(PLATFORM, kind)

    async def _reactors(self, client: discord.Client, seen: SeenMessage) -> set[int]:
        """Who stands behind the cart reaction now, people only, read page by page through
        discord.py's HTTP client, which keeps to Discord's rate-limit buckets."""
        people: set[int] = set()
        after: int | None = None
        me = client.user.id if client.user is not None else None
        read = 0
        while read < MAX_REACTORS:
            page = await self._page(client, seen, after)
            read += len(page)
            for user in page:
                user_id = int(user["id"])
                if not user.get("bot") and user_id != me:
                    people.add(user_id)
            if len(page) < PAGE:
                return people
            after = int(page[-1]["id"])
        self._host.count_platform_event(PLATFORM, "reconcile_truncated")
        return people

    async def _page(
        self, client: discord.Client, seen: SeenMessage, after: int | None
    ) -> list[dict[str, Any]]:
        for attempt in range(RATE_LIMIT_TRIES + 1):
            try:
                users = await client.http.get_reaction_users(
                    seen.channel_id, seen.message_id, self._emoji.rest_form, PAGE, after=after
                )
                return [dict(user) for user in users]
            except discord.RateLimited as limited:
                # Longer than discord.py waits by itself (`max_ratelimit_timeout`).
                if attempt == RATE_LIMIT_TRIES:
                    raise
                self._host.count_platform_event(PLATFORM, "reconcile_rate_limited")
                await asyncio.sleep(min(limited.retry_after, MAX_RATE_LIMIT_WAIT))
        raise AssertionError("unreachable")
