"""What the Discord stand-in holds: users, guilds, channels, messages, and its faults, rate
buckets and gateway sessions."""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hashcart_discord.testing.wire import OP_DISPATCH, _error, _json, _timestamp, shard_for


@dataclass(slots=True)
class User:
    id: int
    username: str
    bot: bool = False
    dms_open: bool = True

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "avatar": None,
            "global_name": self.username.title(),
            "public_flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data

    def member_json(self) -> dict[str, Any]:
        """The user as a guild member, as reaction and interaction events carry it."""
        return {
            "user": self.to_json(),
            "roles": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
        }


@dataclass(slots=True)
class CustomEmoji:
    id: int
    name: str
    animated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "animated": self.animated,
            "require_colons": True,
            "managed": False,
            "available": True,
            "roles": [],
        }


@dataclass(slots=True)
class Channel:
    id: int
    name: str
    guild_id: int | None = None
    recipient: User | None = None  # set for DM channels
    position: int = 0

    def to_json(self) -> dict[str, Any]:
        if self.recipient is not None:
            return {
                "id": str(self.id),
                "type": 1,
                "last_message_id": None,
                "recipients": [self.recipient.to_json()],
                "flags": 0,
            }
        return {
            "id": str(self.id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }


@dataclass(slots=True)
class Guild:
    id: int
    name: str
    preferred_locale: str = "en-US"
    channels: list[Channel] = field(default_factory=list)
    emojis: list[CustomEmoji] = field(default_factory=list)
    members: dict[int, User] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "unavailable": False,
            "member_count": len(self.members),
            "large": False,
            "preferred_locale": self.preferred_locale,
            "owner_id": str(next(iter(self.members), 0)),
            "features": [],
            "channels": [channel.to_json() for channel in self.channels],
            "members": [],
            "roles": [
                {
                    "id": str(self.id),
                    "name": "@everyone",
                    "permissions": "0",
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [emoji.to_json() for emoji in self.emojis],
            "stickers": [],
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
        }


@dataclass(slots=True)
class Message:
    id: int
    channel: Channel
    author: User
    content: str
    embeds: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[User] = field(default_factory=list)
    reactions: set[tuple[int, str]] = field(default_factory=set)  # (user id, emoji key)
    timestamp: str = field(default_factory=_timestamp)

    def to_json(self, *, with_content: bool = True, message_type: int = 0) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "channel_id": str(self.channel.id),
            "type": message_type,
            "content": self.content if with_content else "",
            "author": self.author.to_json(),
            "embeds": list(self.embeds) if with_content else [],
            "attachments": [],
            "components": [],
            "mentions": [user.to_json() for user in self.mentions],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
            "timestamp": self.timestamp,
            "edited_timestamp": None,
            "flags": 0,
        }


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the bot posted, as the stand-in recorded it."""

    id: int
    channel_id: int
    content: str
    recipient_id: int | None  # the user, when the channel is a DM
    body: Mapping[str, Any]
    received_at: float  # time.perf_counter() when it arrived


@dataclass(slots=True)
class Interaction:
    """A slash command someone used, and how the bot answered it."""

    id: int
    token: str
    user: User
    channel: Channel
    created_at: float = field(default_factory=time.monotonic)
    response_type: int | None = None  # 4 = message, 5 = deferred ("thinking")
    ephemeral: bool = False
    answers: list[str] = field(default_factory=list)  # the shown text, each edit or follow-up


@dataclass(slots=True)
class _Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    retry_after: float
    is_global: bool
    code: int

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and self.method in ("*", method) and bool(self.path.search(path))

    def response(self) -> web.Response:
        if self.status != 429:
            return _error(self.status, self.code, f"{self.status}: injected by the stand-in")
        headers = {
            "Retry-After": str(math.ceil(self.retry_after)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + self.retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{self.retry_after:.3f}",
            "X-RateLimit-Bucket": "standin-limited",
        }
        if self.is_global:
            headers["X-RateLimit-Global"] = "true"
        return _rate_limited(self.retry_after, headers, is_global=self.is_global)


@dataclass(slots=True)
class _Bucket:
    """A rate-limit bucket as Discord keeps one: `limit` requests per `per` seconds for one
    route, counted per major parameter (the channel), announced in `X-RateLimit-*` headers on
    every answer and enforced with a 429 that carries `Retry-After`."""

    name: str
    method: str
    path: re.Pattern[str]
    limit: int
    per: float
    windows: dict[str, tuple[float, int]] = field(default_factory=dict)  # major → (reset, used)
    refused: int = 0

    def matches(self, method: str, path: str) -> re.Match[str] | None:
        return self.path.search(path) if self.method in ("*", method) else None

    def take(self, major: str) -> tuple[bool, dict[str, str], float]:
        """Count one request: (allowed, the headers to send, seconds until the window resets)."""
        now = time.monotonic()
        reset, used = self.windows.get(major, (0.0, 0))
        if now >= reset:
            reset, used = now + self.per, 0
        used += 1
        self.windows[major] = (reset, used)
        after = max(reset - now, 0.0)
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.limit - used, 0)),
            "X-RateLimit-Reset": f"{time.time() + after:.3f}",
            "X-RateLimit-Reset-After": f"{after:.3f}",
            "X-RateLimit-Bucket": self.name,
        }
        return used <= self.limit, headers, after

    def refusal(self, headers: Mapping[str, str], after: float) -> web.Response:
        self.refused += 1
        return _rate_limited(after, {**headers, "Retry-After": str(max(math.ceil(after), 1))})


def _rate_limited(
    retry_after: float, headers: Mapping[str, str], *, is_global: bool = False
) -> web.Response:
    """Discord's 429: `Via` and `retry_after` in the body are what discord.py takes for one."""
    scope = {"Via": "1.1 standin", "X-RateLimit-Scope": "global" if is_global else "user"}
    body = {
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": is_global,
    }
    return _json(body, status=429, headers={**headers, **scope})


@dataclass(slots=True)
class _Session:
    """One gateway session: it outlives its socket so a RESUME can replay what was missed."""

    id: str
    shard: tuple[int, int] | None
    intents: int
    seq: int = 0
    log: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=50_000))
    socket: web.WebSocketResponse | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    replay_overlap: int = 0
    invalid: bool = False

    def handles(self, guild_id: int | None) -> bool:
        if self.shard is None:
            return True
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0  # DMs go to shard 0
        return shard_for(guild_id, count) == shard_id

    @property
    def connected(self) -> bool:
        return self.socket is not None and not self.socket.closed

    async def dispatch(self, event: str, data: Mapping[str, Any]) -> None:
        async with self.lock:
            self.seq += 1
            frame = json.dumps({"op": OP_DISPATCH, "t": event, "s": self.seq, "d": data})
            self.log.append((self.seq, frame))
            await self._send(frame)

    async def _send(self, frame: str) -> None:
        if not self.connected:
            return  # kept in the log for the RESUME
        assert self.socket is not None
        try:
            await self.socket.send_str(frame)
        except (ConnectionError, RuntimeError):
            self.socket = None

    async def resume(self, socket: web.WebSocketResponse, client_seq: int) -> int:
        """Attach the new socket, replay what came after `client_seq`; returns how many."""
        async with self.lock:
            self.socket = socket
            start = client_seq - self.replay_overlap
            self.replay_overlap = 0
            missed = [frame for seq, frame in self.log if seq > start]
            for frame in missed:
                await self._send(frame)
            resumed = {"op": OP_DISPATCH, "t": "RESUMED", "s": self.seq, "d": {}}
            await self._send(json.dumps(resumed))
            return len(missed)
