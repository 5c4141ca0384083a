"""The Discord stand-in's state: life cycle, the world it holds (users, guilds, messages), REST
faults and what tests observe; its REST API (`api.py`) and gateway (`gateway.py`) build on it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from hashcart.testing.standins import LocalServer
from hashcart.testing.standins.oauth2 import AuthorizationServer
from hashcart_discord.testing.models import (
    Channel,
    CustomEmoji,
    Guild,
    Interaction,
    Message,
    SentMessage,
    User,
    _Bucket,
    _Fault,
    _Session,
)
from hashcart_discord.testing.wire import DISCORD_EPOCH_MS, shard_for


class DiscordStandinBase(LocalServer):
    """What every part of the stand-in shares."""

    def make_app(self) -> web.Application:
        """The aiohttp application: `DiscordStandin` adds the endpoints built on this base."""
        raise NotImplementedError

    def __init__(self, *, message_content: bool = True) -> None:
        self.token = "standin-bot-token"
        self.message_content = message_content
        self._ids = itertools.count(1)
        self._id_base_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        self.bot = User(self.new_id(), "hashcart", bot=True)
        self.users: dict[int, User] = {self.bot.id: self.bot}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.sent: list[SentMessage] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []  # session_id, seq, replayed (frames)
        self.requests: list[tuple[str, str]] = []
        self.on_sent: Callable[[SentMessage], None] | None = None
        self.commands: list[dict[str, Any]] = []  # application commands the bot registered
        self.command_syncs = 0
        self.interactions: dict[int, Interaction] = {}
        self._dm_channels: dict[int, Channel] = {}
        self._nonces: dict[tuple[int, str], tuple[float, SentMessage]] = {}
        self._sessions: dict[str, _Session] = {}
        self._faults: list[_Fault] = []
        self._delays: list[tuple[str, re.Pattern[str], float, list[int]]] = []
        self._buckets: list[_Bucket] = []
        #: Discord's OAuth2 (`identify`); `signin_as(user)` says who is signed in at discord.com.
        self.oauth2: AuthorizationServer[User] = AuthorizationServer(
            client_id=str(self.bot.id),
            client_secret="standin-discord-client-secret",
            required_scopes=("identify",),
        )

    async def stop(self) -> None:
        for session in list(self._sessions.values()):
            if session.socket is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(session.socket.close(code=1001), timeout=1)
        await super().stop()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + "/"

    @property
    def env(self) -> dict[str, str]:
        """The settings that point hashcart's Discord plugin here."""
        return {
            "HASHCART_DISCORD_TOKEN": self.token,
            "HASHCART_DISCORD_API_URL": self.api_url,
            "HASHCART_DISCORD_GATEWAY_URL": self.gateway_url,
        }

    def plugin_env(self) -> dict[str, str]:
        return self.env

    def new_id(self) -> int:
        """A fresh snowflake; consecutive ids fall into consecutive shards."""
        return (self._id_base_ms + next(self._ids)) << 22

    def add_user(
        self, username: str, *, bot: bool = False, dms_open: bool = True, id: int | None = None
    ) -> User:
        user = User(id if id is not None else self.new_id(), username, bot=bot, dms_open=dms_open)
        self.users[user.id] = user
        return user

    def add_guild(
        self, name: str = "guild", *, locale: str = "en-US", shard: tuple[int, int] | None = None
    ) -> Guild:
        """A guild the bot is in; `shard=(id, count)` picks an id that lands on that shard."""
        guild_id = self.new_id()
        while shard is not None and shard_for(guild_id, shard[1]) != shard[0]:
            guild_id = self.new_id()
        guild = Guild(guild_id, name, preferred_locale=locale)
        guild.members[self.bot.id] = self.bot
        self.guilds[guild.id] = guild
        return guild

    def add_channel(self, guild: Guild, name: str = "general") -> Channel:
        channel = Channel(self.new_id(), name, guild_id=guild.id, position=len(guild.channels))
        guild.channels.append(channel)
        self.channels[channel.id] = channel
        return channel

    def add_custom_emoji(self, guild: Guild, name: str, *, animated: bool = False) -> CustomEmoji:
        emoji = CustomEmoji(self.new_id(), name, animated)
        guild.emojis.append(emoji)
        return emoji

    def post_message(
        self,
        channel: Channel,
        author: User,
        content: str,
        *,
        embeds: Iterable[Mapping[str, Any]] = (),
        mentions: Iterable[User] = (),
    ) -> Message:
        """Put a message in a channel (no gateway event: the bot does not listen to messages)."""
        message = Message(
            self.new_id(),
            channel,
            author,
            content,
            embeds=[dict(embed) for embed in embeds],
            mentions=list(mentions),
        )
        self.messages[message.id] = message
        if channel.guild_id is not None:
            self.guilds[channel.guild_id].members.setdefault(author.id, author)
        return message

    def signin_as(self, user: User | None) -> None:
        """Who the next "Sign in with Discord" authorizes (None: nobody, the person refuses)."""
        self.oauth2.user = user

    def dm_channel(self, user: User) -> Channel:
        channel = self._dm_channels.get(user.id)
        if channel is None:
            channel = Channel(self.new_id(), "", recipient=user)
            self._dm_channels[user.id] = channel
            self.channels[channel.id] = channel
        return channel

    def close_dms(self, user: User) -> None:
        """The user turns off DMs from server members: sends to them fail with 50007."""
        user.dms_open = False

    def fail_next(
        self,
        method: str,
        path: str,
        *,
        status: int = 429,
        times: int = 1,
        retry_after: float = 0.2,
        is_global: bool = False,
        code: int = 0,
    ) -> None:
        """Answer the next `times` requests whose path (after /api/v10) matches the regex `path`.

        `status=429` is a proper rate limit (Via header, `retry_after` in the body, the
        X-RateLimit set) that discord.py sleeps on; other statuses carry `code` in the body.
        """
        pattern = re.compile(path)
        self._faults.append(
            _Fault(method.upper(), pattern, status, times, retry_after, is_global, code)
        )

    def rate_limit(self, method: str, path: str, *, limit: int, per: float) -> None:
        """Give matching routes a real bucket: `limit` requests per `per` seconds per channel
        (the major parameter), `X-RateLimit-*` on every answer, 429s beyond it."""
        name = hashlib.sha1(f"{method} {path}".encode()).hexdigest()[:16]
        self._buckets.append(_Bucket(name, method.upper(), re.compile(path), limit, per))

    @property
    def rate_limited(self) -> int:
        """How many requests the buckets of `rate_limit` refused with a 429."""
        return sum(bucket.refused for bucket in self._buckets)

    def delay_next(self, method: str, path: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next `times` matching requests for `seconds` before answering them."""
        self._delays.append((method.upper(), re.compile(path), seconds, [times]))

    def dms_to(self, user: User) -> list[str]:
        """The text of every DM the bot sent this user, oldest first."""
        return [m.content for m in self.sent if m.recipient_id == user.id]

    def posts_in(self, channel: Channel) -> list[str]:
        return [m.content for m in self.sent if m.channel_id == channel.id]

    def count_requests(self, method: str, path: str) -> int:
        pattern = re.compile(path)
        return sum(1 for m, p in self.requests if m == method.upper() and pattern.search(p))
