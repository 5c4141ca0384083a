"""A local Discord: REST API and gateway websocket, as the real discord.py client expects them.

Tests, the playground and plugin authors point a bot at it instead of discord.com. It keeps the
rules a bot depends on — JSON without a charset (discord.py compares the content type exactly),
429s that carry `Via` and `retry_after`, gateway sequence numbers, sessions that survive a dropped
socket and replay what was missed on RESUME (and nothing to a new session after a fresh IDENTIFY),
shards that each see only their own guilds, who reacted (paged, behind real rate limits), DMs that
a user can close, the message-content gate — and gives tests handles to build a world, fire
reactions and break things. The wire formats are those of Discord API v10 as discord.py 2.7 uses
them.

    async with DiscordStandin() as discord:
        alice = discord.add_user("alice")
        guild = discord.add_guild("shop")
        channel = discord.add_channel(guild, "deals")
        message = discord.post_message(channel, alice, "look https://www.amazon.com/dp/B00X4WHP5E")
        # ...start a bot with discord.env...
        await discord.react(alice, message, "🛒")
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Self

from aiohttp import WSMsgType, web

from hashcart.testing.standins.oauth2 import AuthorizationServer, OAuthError
from hashcart_discord.testing.commands import _form_error, check_command_use, command_problems
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
from hashcart_discord.testing.wire import (
    APP_FLAG_GATEWAY_MESSAGE_CONTENT,
    CLOSE_AUTHENTICATION_FAILED,
    CLOSE_DISALLOWED_INTENTS,
    CLOSE_INVALID_SHARD,
    DISCORD_EPOCH_MS,
    INTENT_MESSAGE_CONTENT,
    OP_HEARTBEAT,
    OP_HEARTBEAT_ACK,
    OP_HELLO,
    OP_IDENTIFY,
    OP_INVALID_SESSION,
    OP_RESUME,
    PRIVILEGED_INTENTS,
    _error,
    _json,
    shard_for,
)

__all__ = ["DiscordStandin"]

# ---------------------------------------------------------------------------------------------
# The stand-in
# ---------------------------------------------------------------------------------------------


class DiscordStandin:
    """Discord's REST API under `/api/v10` and its gateway at `/`, on one local port.

    `message_content` says whether the bot's application has the privileged Message Content
    intent switched on: without it, fetched guild messages come back with empty content and
    embeds (unless they mention the bot), as on discord.com, and an IDENTIFY asking for the
    intent is closed with 4014.
    """

    platform = "discord"

    def __init__(
        self,
        *,
        token: str = "standin-bot-token",
        bot_name: str = "hashcart",
        message_content: bool = True,
        heartbeat_interval_ms: int = 41_250,
        recommended_shards: int = 1,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.message_content = message_content
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.recommended_shards = recommended_shards
        self.host = host
        self.port = 0
        self._ids = itertools.count(1)
        self._id_base_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        self.bot = User(self.new_id(), bot_name, bot=True)
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
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._delays: list[tuple[str, re.Pattern[str], float, list[int]]] = []
        self._buckets: list[_Bucket] = []
        #: Discord's OAuth2 (`identify`); `signin_as(user)` says who is signed in at discord.com.
        self.oauth2: AuthorizationServer[User] = AuthorizationServer(
            client_id=str(self.bot.id),
            client_secret="standin-discord-client-secret",
            required_scopes=("identify",),
        )

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self, port: int = 0) -> None:
        self._runner = web.AppRunner(self.make_app(), handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, port).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        for session in list(self._sessions.values()):
            if session.socket is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(session.socket.close(code=1001), timeout=1)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def mount(self, base_url: str) -> None:
        """Serve `make_app()` elsewhere (a sub-application of the playground at `base_url`)
        instead of calling `start()`: the URLs handed to bots then point there."""
        self._base_url = base_url.rstrip("/")

    @property
    def url(self) -> str:
        return self._base_url or f"http://{self.host}:{self.port}"

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

    def make_app(self) -> web.Application:
        """The aiohttp application, for mounting the stand-in inside another server."""
        app = web.Application(middlewares=[self._middleware])
        api = "/api/v10"
        app.router.add_get("/", self._gateway)
        app.router.add_get("/oauth2/authorize", self.oauth2.authorize)
        app.router.add_post(api + "/oauth2/token", self._oauth2_token)
        app.router.add_get(api + "/gateway", self._get_gateway)
        app.router.add_get(api + "/gateway/bot", self._get_gateway_bot)
        app.router.add_get(api + "/users/@me", self._get_me)
        app.router.add_get(api + "/users/{user_id:\\d+}", self._get_user)
        app.router.add_get(api + "/oauth2/applications/@me", self._get_application)
        app.router.add_get(api + "/channels/{channel_id}", self._get_channel)
        app.router.add_get(api + "/channels/{channel_id}/messages/{message_id}", self._get_message)
        app.router.add_get(
            api + "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}",
            self._get_reactions,
        )
        app.router.add_post(api + "/users/@me/channels", self._create_dm)
        app.router.add_post(api + "/channels/{channel_id}/messages", self._create_message)
        commands = api + "/applications/{app_id}/commands"
        app.router.add_get(commands, self._get_commands)
        app.router.add_put(commands, self._put_commands)
        app.router.add_post(api + "/interactions/{id}/{token}/callback", self._interaction_callback)
        app.router.add_patch(
            api + "/webhooks/{app_id}/{token}/messages/@original", self._edit_original
        )
        app.router.add_post(api + "/webhooks/{app_id}/{token}", self._follow_up)
        return app

    # -- building the world ---------------------------------------------------------------------

    def new_id(self) -> int:
        """A fresh snowflake; consecutive ids fall into consecutive shards."""
        return (self._id_base_ms + next(self._ids)) << 22

    shard_for = staticmethod(shard_for)

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
        while shard is not None and self.shard_for(guild_id, shard[1]) != shard[0]:
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

    def open_dms(self, user: User) -> None:
        user.dms_open = True

    # -- gateway events -------------------------------------------------------------------------

    async def react(
        self,
        user: User,
        message: Message,
        emoji: str | CustomEmoji = "🛒",
        *,
        remove: bool = False,
    ) -> bool:
        """The user adds (or removes) a reaction; False when that changes nothing on Discord."""
        key = str(emoji.id) if isinstance(emoji, CustomEmoji) else emoji
        reaction = (user.id, key)
        if remove != (reaction in message.reactions):
            return False
        if remove:
            message.reactions.discard(reaction)
        else:
            message.reactions.add(reaction)
        await self.dispatch_reaction(user, message, emoji, remove=remove)
        return True

    async def dispatch_reaction(
        self, user: User, message: Message, emoji: str | CustomEmoji = "🛒", *, remove: bool = False
    ) -> None:
        """Send a MESSAGE_REACTION_ADD/REMOVE whether or not it repeats an earlier one."""
        if isinstance(emoji, CustomEmoji):
            emoji_json: dict[str, Any] = {"id": str(emoji.id), "name": emoji.name}
            if emoji.animated:
                emoji_json["animated"] = True
        else:
            emoji_json = {"id": None, "name": emoji}
        guild_id = message.channel.guild_id
        data: dict[str, Any] = {
            "user_id": str(user.id),
            "channel_id": str(message.channel.id),
            "message_id": str(message.id),
            "emoji": emoji_json,
            "burst": False,
            "type": 0,
        }
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        if not remove:
            data["message_author_id"] = str(message.author.id)
            data["burst_colors"] = []
            if guild_id is not None:
                data["member"] = {
                    "user": user.to_json(),
                    "roles": [],
                    "joined_at": "2024-01-01T00:00:00+00:00",
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                }
        event = "MESSAGE_REACTION_REMOVE" if remove else "MESSAGE_REACTION_ADD"
        await self.dispatch(event, data, guild_id=guild_id)

    async def dispatch(self, event: str, data: Mapping[str, Any], *, guild_id: int | None) -> int:
        """Send any dispatch to the sessions whose shard owns `guild_id`; returns how many."""
        targets = [s for s in self._sessions.values() if not s.invalid and s.handles(guild_id)]
        for session in targets:
            await session.dispatch(event, data)
        return len(targets)

    async def use_command(
        self,
        user: User,
        channel: Channel,
        command: str,
        subcommand: str | None = None,
        **options: str | int | bool,
    ) -> Interaction:
        """The user runs `/command subcommand option:value` in a channel (INTERACTION_CREATE).

        Once the bot registered `command`, the use must fit its definition (`ValueError` if not).
        """
        registered = next((c for c in self.commands if c["name"] == command), None)
        if registered is not None:
            check_command_use(registered, subcommand, options)
        interaction = Interaction(
            id=self.new_id(),
            token=hashlib.sha1(str(self.new_id()).encode()).hexdigest(),
            user=user,
            channel=channel,
            command=" ".join(filter(None, (command, subcommand))),
            options=dict(options),
        )
        self.interactions[interaction.id] = interaction
        typed = [
            {
                "type": 5 if isinstance(v, bool) else 4 if isinstance(v, int) else 3,
                "name": k,
                "value": v,
            }
            for k, v in options.items()
        ]
        option_list = [{"type": 1, "name": subcommand, "options": typed}] if subcommand else typed
        data: dict[str, Any] = {
            "id": str(interaction.id),
            "application_id": str(self.bot.id),
            "type": 2,
            "token": interaction.token,
            "version": 1,
            "attachment_size_limit": 8 * 1024 * 1024,
            "channel_id": str(channel.id),
            "channel": channel.to_json(),
            "locale": "en-US",
            "app_permissions": "0",
            "entitlements": [],
            "data": {
                "id": registered["id"] if registered else str(self.new_id()),
                "name": command,
                "type": 1,
                "options": option_list,
            },
        }
        if channel.guild_id is not None:
            guild = self.guilds[channel.guild_id]
            data.update(
                guild_id=str(guild.id),
                guild_locale=guild.preferred_locale,
                context=0,
                authorizing_integration_owners={"0": str(guild.id)},
                member={
                    "user": user.to_json(),
                    "roles": [],
                    "joined_at": "2024-01-01T00:00:00+00:00",
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                    "permissions": "0",
                },
            )
        else:
            data.update(user=user.to_json(), context=1)
        await self.dispatch("INTERACTION_CREATE", data, guild_id=channel.guild_id)
        return interaction

    def sessions(self, *, connected: bool = True) -> list[dict[str, Any]]:
        """The live gateway sessions: id, shard, last sequence number, whether a socket is open."""
        return [
            {"id": s.id, "shard": s.shard, "seq": s.seq, "connected": s.connected}
            for s in self._sessions.values()
            if not s.invalid and (s.connected or not connected)
        ]

    async def wait_connected(self, count: int = 1, *, within: float = 10.0) -> None:
        """Wait until `count` sessions are connected (identified or resumed)."""
        deadline = time.monotonic() + within
        while len(self.sessions()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.sessions())} of {count} gateway sessions connected")
            await asyncio.sleep(0.01)

    async def drop_connections(self, *, code: int = 4000, replay_overlap: int = 0) -> int:
        """Close every gateway socket as a network failure would; sessions stay resumable.

        `replay_overlap` makes the next RESUME also replay that many events the client had
        already seen, as Discord may after a flaky connection: a bot must not apply them twice.
        """
        dropped = 0
        for session in list(self._sessions.values()):
            socket = session.socket
            if socket is None or socket.closed:
                continue
            async with session.lock:
                session.replay_overlap = replay_overlap
                session.socket = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(code=code), timeout=2)
            dropped += 1
        return dropped

    def invalidate_sessions(self) -> None:
        """Forget every session: the next RESUME is answered with INVALID_SESSION(false)."""
        for session in self._sessions.values():
            session.invalid = True

    # -- REST faults ----------------------------------------------------------------------------

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

    # -- observation ----------------------------------------------------------------------------

    def dms_to(self, user: User) -> list[str]:
        """The text of every DM the bot sent this user, oldest first."""
        return [m.content for m in self.sent if m.recipient_id == user.id]

    def posts_in(self, channel: Channel) -> list[str]:
        return [m.content for m in self.sent if m.channel_id == channel.id]

    def count_requests(self, method: str, path: str) -> int:
        pattern = re.compile(path)
        return sum(1 for m, p in self.requests if m == method.upper() and pattern.search(p))

    # -- REST handlers --------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        _mount, api, api_path = request.path.partition("/api/v10")
        if not api:
            response: web.StreamResponse = await handler(request)
            return response
        self.requests.append((request.method, api_path))
        token_authorised = (
            api_path.startswith(("/interactions/", "/webhooks/"))
            or api_path == "/oauth2/token"  # the client authenticates in the request itself
            or (api_path == "/users/@me" and self.oauth2.bearer_user(request) is not None)
        )
        if not token_authorised and request.headers.get("Authorization") != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        for fault in self._faults:
            if fault.matches(request.method, api_path):
                fault.times -= 1
                return fault.response()
        for method, pattern, seconds, left in self._delays:
            if left[0] > 0 and method in ("*", request.method) and pattern.search(api_path):
                left[0] -= 1
                await asyncio.sleep(seconds)
                break
        limits: dict[str, str] | None = None
        for bucket in self._buckets:
            if bucket.matches(request.method, api_path):
                major = request.match_info.get("channel_id", "")
                allowed, limits, after = bucket.take(major)
                if not allowed:
                    return bucket.refusal(limits, after)
                break
        response = await handler(request)
        if limits is not None:
            response.headers.update(limits)
        elif response.status < 300:
            self._add_rate_limit_headers(request, response)
        return response

    @staticmethod
    def _add_rate_limit_headers(request: web.Request, response: web.StreamResponse) -> None:
        """A generous bucket, so discord.py sends requests concurrently as it would on Discord."""
        route = request.match_info.route.resource
        template = route.canonical if route is not None else request.path
        bucket = hashlib.sha1(f"{request.method} {template}".encode()).hexdigest()[:16]
        response.headers.update(
            {
                "X-RateLimit-Limit": "1000",
                "X-RateLimit-Remaining": "999",
                "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
                "X-RateLimit-Reset-After": "1.000",
                "X-RateLimit-Bucket": bucket,
            }
        )

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1}
        return _json(
            {
                "url": self.gateway_url,
                "shards": self.recommended_shards,
                "session_start_limit": limit,
            }
        )

    async def _get_me(self, request: web.Request) -> web.Response:
        signed_in = self.oauth2.bearer_user(request)
        return _json((signed_in or self.bot).to_json())

    async def _oauth2_token(self, request: web.Request) -> web.Response:
        issued = self.oauth2.exchange(request.headers, await request.post())
        if isinstance(issued, OAuthError):
            return _json({"error": issued.error}, status=issued.status)
        return _json(
            {
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": 604800,
                "refresh_token": f"refresh-{issued.access_token[:16]}",
                "scope": issued.scope,
            }
        )

    async def _get_user(self, request: web.Request) -> web.Response:
        user = self.users.get(int(request.match_info["user_id"]))
        if user is None:
            return _error(404, 10013, "Unknown User")
        return _json(user.to_json())

    async def _get_application(self, request: web.Request) -> web.Response:
        flags = APP_FLAG_GATEWAY_MESSAGE_CONTENT if self.message_content else 0
        return _json(
            {
                "id": str(self.bot.id),
                "name": self.bot.username,
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": self.bot.to_json(),
                "verify_key": "0" * 64,
                "flags": flags,
                "interactions_endpoint_url": None,
                "bot": self.bot.to_json(),
            }
        )

    def _channel(self, request: web.Request) -> Channel | None:
        raw = request.match_info["channel_id"]
        return self.channels.get(int(raw)) if raw.isdigit() else None

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        return _json(channel.to_json())

    async def _get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        raw = request.match_info["message_id"]
        message = self.messages.get(int(raw)) if raw.isdigit() else None
        if message is None or message.channel.id != channel.id:
            return _error(404, 10008, "Unknown Message")
        return _json(message.to_json(with_content=self._content_visible(message)))

    async def _get_reactions(self, request: web.Request) -> web.Response:
        """The users behind one reaction, by ascending id, a page of `limit` (1–100, default 25)
        after the user id `after`; `type=1` asks for super reactions, which nobody makes here."""
        channel = self._channel(request)
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        raw = request.match_info["message_id"]
        message = self.messages.get(int(raw)) if raw.isdigit() else None
        if message is None or message.channel.id != channel.id:
            return _error(404, 10008, "Unknown Message")
        emoji_key = self._emoji_key(request.match_info["emoji"])
        if emoji_key is None:
            return _error(400, 10014, "Unknown Emoji")
        query = request.query
        limit_text, after_text = query.get("limit", "25"), query.get("after", "0")
        reaction_type = query.get("type", "0")
        if (
            not limit_text.isdigit()
            or not 1 <= int(limit_text) <= 100
            or not after_text.isdigit()
            or reaction_type not in ("0", "1")
        ):
            return _error(400, 50035, "Invalid Form Body")
        if reaction_type == "1":
            return _json([])
        after = int(after_text)
        user_ids = sorted(
            user_id for user_id, key in message.reactions if key == emoji_key and user_id > after
        )
        page = user_ids[: int(limit_text)]
        return _json([self.users[user_id].to_json() for user_id in page])

    def _emoji_key(self, text: str) -> str | None:
        """`name:id` of a custom emoji some guild has, or a unicode emoji; None otherwise."""
        name, colon, emoji_id = text.partition(":")
        if colon:
            known = {emoji.id for guild in self.guilds.values() for emoji in guild.emojis}
            return emoji_id if emoji_id.isdigit() and int(emoji_id) in known and name else None
        return text if text and not text.isascii() else None

    def _content_visible(self, message: Message) -> bool:
        """Discord's message-content gate for fetched messages."""
        return (
            self.message_content
            or message.channel.guild_id is None
            or message.author.id == self.bot.id
            or any(user.id == self.bot.id for user in message.mentions)
        )

    async def _body(self, request: web.Request) -> dict[str, Any] | None:
        if request.content_type != "application/json":
            return None
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def _create_dm(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if body is None or "recipient_id" not in body:
            return _error(400, 50035, "Invalid Form Body")
        user = self.users.get(int(body["recipient_id"]))
        if user is None:
            return _error(400, 50035, "Invalid Form Body")
        return _json(self.dm_channel(user).to_json())

    async def _create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        body = await self._body(request)
        if body is None:
            return _error(400, 50035, "Invalid Form Body")
        content = body.get("content") or ""
        if not isinstance(content, str) or len(content) > 2000:
            return _error(400, 50035, "Invalid Form Body")
        if not content and not body.get("embeds"):
            return _error(400, 50006, "Cannot send an empty message")
        if channel.recipient is not None and not channel.recipient.dms_open:
            return _error(403, 50007, "Cannot send messages to this user")
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            earlier = self._nonces.get((channel.id, str(nonce)))
            if earlier is not None and time.monotonic() - earlier[0] < 300:
                return _json(self._sent_json(earlier[1], channel))
        sent = SentMessage(
            id=self.new_id(),
            channel_id=channel.id,
            content=content,
            recipient_id=channel.recipient.id if channel.recipient is not None else None,
            body=body,
            received_at=time.perf_counter(),
        )
        self.sent.append(sent)
        if nonce is not None:
            self._nonces[(channel.id, str(nonce))] = (time.monotonic(), sent)
        if self.on_sent is not None:
            self.on_sent(sent)
        return _json(self._sent_json(sent, channel))

    def _sent_json(self, sent: SentMessage, channel: Channel) -> dict[str, Any]:
        message = Message(sent.id, channel, self.bot, sent.content)
        reply = "message_reference" in sent.body
        data = message.to_json(message_type=19 if reply else 0)
        if sent.body.get("nonce") is not None:
            data["nonce"] = sent.body["nonce"]
        return data

    async def _get_commands(self, request: web.Request) -> web.Response:
        return _json(self.commands)

    async def _put_commands(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        problems = command_problems(body)
        if problems:
            return _form_error(problems)
        assert isinstance(body, list)
        self.command_syncs += 1
        self.commands = [
            {
                "id": str(self.new_id()),
                "application_id": str(self.bot.id),
                "version": str(self.new_id()),
                "default_member_permissions": None,
                "type": 1,
                "nsfw": False,
                **command,
            }
            for command in body
        ]
        return _json(self.commands)

    def _interaction(self, request: web.Request) -> Interaction | None:
        token = request.match_info["token"]
        found = next((i for i in self.interactions.values() if i.token == token), None)
        if found is None or time.monotonic() - found.created_at > 15 * 60:
            return None
        return found

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request)
        if interaction is None or str(interaction.id) != request.match_info["id"]:
            return _error(404, 10062, "Unknown interaction")
        if interaction.response_type is not None:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - interaction.created_at > 3.0:
            return _error(404, 10062, "Unknown interaction")  # answered too late
        body = await self._body(request) or {}
        data = body.get("data") or {}
        interaction.response_type = int(body.get("type", 0))
        interaction.ephemeral = bool(int(data.get("flags") or 0) & 64)
        if data.get("content"):
            interaction.answers.append(str(data["content"]))
        return _json(
            {
                "interaction": {
                    "id": str(interaction.id),
                    "type": 2,
                    "response_message_loading": interaction.response_type == 5,
                    "response_message_ephemeral": interaction.ephemeral,
                },
                "resource": {"type": interaction.response_type},
            }
        )

    async def _edit_original(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request)
        if interaction is None or interaction.response_type is None:
            return _error(404, 10015, "Unknown Webhook")
        body = await self._body(request)
        if body is None or not isinstance(body.get("content", ""), str):
            return _error(400, 50035, "Invalid Form Body")
        interaction.answers.append(body.get("content") or "")
        return _json(self._interaction_message(interaction, interaction.answers[-1]))

    async def _follow_up(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request)
        if interaction is None or interaction.response_type is None:
            return _error(404, 10015, "Unknown Webhook")
        body = await self._body(request) or {}
        interaction.answers.append(str(body.get("content") or ""))
        return _json(self._interaction_message(interaction, interaction.answers[-1]))

    def _interaction_message(self, interaction: Interaction, content: str) -> dict[str, Any]:
        message = Message(self.new_id(), interaction.channel, self.bot, content)
        data = message.to_json(message_type=20)
        data["flags"] = 64 if interaction.ephemeral else 0
        return data

    # -- the gateway ----------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(max_msg_size=4 * 1024 * 1024)
        await socket.prepare(request)
        await socket.send_json(
            {"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
        )
        session: _Session | None = None
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(frame.data)
                    op = payload["op"]
                except (ValueError, KeyError, TypeError):
                    await socket.close(code=4002, message=b"Decode error")
                    break
                if op == OP_HEARTBEAT:
                    await socket.send_json({"op": OP_HEARTBEAT_ACK})
                elif op == OP_IDENTIFY and session is None:
                    session = await self._identify(socket, payload.get("d") or {})
                elif op == OP_RESUME and session is None:
                    session = await self._resume(socket, payload.get("d") or {})
        finally:
            if session is not None and session.socket is socket:
                session.socket = None
                if socket.close_code == 1000:
                    session.invalid = True  # a clean close from the bot ends the session
        return socket

    async def _identify(
        self, socket: web.WebSocketResponse, data: Mapping[str, Any]
    ) -> _Session | None:
        intents = int(data.get("intents") or 0)
        shard_data = data.get("shard")
        shard = (int(shard_data[0]), int(shard_data[1])) if shard_data else None
        self.identifies.append({"shard": shard, "intents": intents, "at": time.monotonic()})
        if data.get("token") != self.token:
            await socket.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return None
        if shard is not None and not 0 <= shard[0] < shard[1]:
            await socket.close(code=CLOSE_INVALID_SHARD, message=b"Invalid shard.")
            return None
        granted = INTENT_MESSAGE_CONTENT if self.message_content else 0
        if intents & PRIVILEGED_INTENTS & ~granted:
            await socket.close(code=CLOSE_DISALLOWED_INTENTS, message=b"Disallowed intent(s).")
            return None
        for old in self._sessions.values():
            if old.shard == shard:
                old.invalid = True
        session_id = hashlib.sha1(str(self.new_id()).encode()).hexdigest()
        session = _Session(id=session_id, shard=shard, intents=intents)
        mine = [g for g in self.guilds.values() if session.handles(g.id)]
        async with session.lock:
            session.socket = socket
            self._sessions[session.id] = session
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.bot.to_json(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in mine],
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "application": {
                "id": str(self.bot.id),
                "flags": APP_FLAG_GATEWAY_MESSAGE_CONTENT if self.message_content else 0,
            },
            "private_channels": [],
            "relationships": [],
        }
        if shard is not None:
            ready["shard"] = list(shard)
        await session.dispatch("READY", ready)
        for guild in mine:
            await session.dispatch("GUILD_CREATE", guild.to_json())
        return session

    async def _resume(
        self, socket: web.WebSocketResponse, data: Mapping[str, Any]
    ) -> _Session | None:
        session = self._sessions.get(str(data.get("session_id")))
        client_seq = data.get("seq")
        record: dict[str, Any] = {"session_id": data.get("session_id"), "seq": client_seq}
        self.resumes.append(record)
        if data.get("token") != self.token:
            await socket.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return None
        oldest = session.log[0][0] if session is not None and session.log else 0
        if (
            session is None
            or session.invalid
            or not isinstance(client_seq, int)
            or client_seq < oldest - 1
        ):
            await socket.send_json({"op": OP_INVALID_SESSION, "d": False})
            return None
        record["replayed"] = await session.resume(socket, client_seq)
        return session
