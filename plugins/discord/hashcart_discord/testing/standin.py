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
import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import WSMsgType, web

from hashcart.testing.standins.oauth2 import AuthorizationServer, OAuthError

__all__ = [
    "Channel",
    "CustomEmoji",
    "DiscordStandin",
    "Guild",
    "Interaction",
    "Message",
    "SentMessage",
    "User",
    "check_command_use",
    "command_problems",
]

#: Discord's epoch (2015-01-01) in milliseconds; snowflakes count from it.
DISCORD_EPOCH_MS = 1_420_070_400_000

INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

#: Application flag: the Message Content intent is switched on in the Developer Portal.
APP_FLAG_GATEWAY_MESSAGE_CONTENT = 1 << 18

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_RESUME = 0, 1, 2, 6
OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 9, 10, 11

CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_INVALID_SHARD = 4010
CLOSE_DISALLOWED_INTENTS = 4014


def _json(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response with the bare `application/json` type discord.py insists on."""
    return web.Response(
        status=status,
        body=json.dumps(payload).encode(),
        content_type="application/json",
        headers=headers,
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


# ---------------------------------------------------------------------------------------------
# Application command definitions: the limits Discord checks on a bulk overwrite
# ---------------------------------------------------------------------------------------------

OPTION_SUB_COMMAND, OPTION_SUB_COMMAND_GROUP = 1, 2
OPTION_STRING, OPTION_INTEGER, OPTION_BOOLEAN, OPTION_NUMBER = 3, 4, 5, 10
_OPTION_TYPES = range(1, 12)
_CHOICE_TYPES = (OPTION_STRING, OPTION_INTEGER, OPTION_NUMBER)
_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")

Problem = tuple[str, str]  # (where in the body, what is wrong)


def command_problems(commands: Any) -> list[Problem]:
    """Why Discord would refuse `PUT /applications/{id}/commands` with this body; [] if it
    would accept it. A bot whose definition breaks a rule finds out here, not in production."""
    if not isinstance(commands, list):
        return [("", "a list of application commands is expected")]
    problems: list[Problem] = []
    if len(commands) > 100:
        problems.append(("", "at most 100 global commands"))
    names: set[tuple[Any, Any]] = set()
    for index, command in enumerate(commands):
        where = str(index)
        if not isinstance(command, Mapping):
            problems.append((where, "an object is expected"))
            continue
        kind = command.get("type", 1)
        problems += _name_problems(command, where, described=kind == 1)
        if (kind, command.get("name")) in names:
            problems.append((f"{where}.name", "application command names must be unique"))
        names.add((kind, command.get("name")))
        problems += _option_problems(command.get("options") or [], f"{where}.options", depth=0)
    return problems


def _name_problems(item: Mapping[str, Any], where: str, *, described: bool) -> list[Problem]:
    problems: list[Problem] = []
    name = item.get("name")
    if not isinstance(name, str) or not _COMMAND_NAME.match(name) or name != name.lower():
        problems.append((f"{where}.name", f"{name!r}: 1 to 32 lowercase letters, digits, - or _"))
    description = item.get("description", "")
    if described and not (isinstance(description, str) and 1 <= len(description) <= 100):
        problems.append((f"{where}.description", "must be 1 to 100 characters long"))
    return problems


def _option_problems(options: Any, where: str, *, depth: int) -> list[Problem]:
    """`depth` 0 is a command's own options, 1 a sub-command's or a group's, 2 a grouped
    sub-command's: groups sit only at the top, sub-commands only at the top or in a group."""
    if not isinstance(options, list):
        return [(where, "a list of options is expected")]
    problems: list[Problem] = []
    if len(options) > 25:
        problems.append((where, "at most 25 options"))
    kinds = [o.get("type") for o in options if isinstance(o, Mapping)]
    nested = [kind in (OPTION_SUB_COMMAND, OPTION_SUB_COMMAND_GROUP) for kind in kinds]
    if any(nested) and not all(nested):
        problems.append((where, "sub-commands and other options cannot be mixed"))
    optional_seen = False
    names: set[Any] = set()
    for index, option in enumerate(options):
        here = f"{where}.{index}"
        if not isinstance(option, Mapping):
            problems.append((here, "an object is expected"))
            continue
        kind = option.get("type")
        problems += _name_problems(option, here, described=True)
        if option.get("name") in names:
            problems.append((f"{here}.name", "option names must be unique"))
        names.add(option.get("name"))
        if kind not in _OPTION_TYPES:
            problems.append((f"{here}.type", f"{kind!r} is not an option type"))
        elif kind == OPTION_SUB_COMMAND_GROUP:
            children = option.get("options") or []
            if depth > 0:
                problems.append((here, "a sub-command group can only be a command's option"))
            elif not all(isinstance(c, Mapping) and c.get("type") == 1 for c in children):
                problems.append((f"{here}.options", "a group holds only sub-commands"))
            problems += _option_problems(children, f"{here}.options", depth=depth + 1)
        elif kind == OPTION_SUB_COMMAND:
            if depth > 1:
                problems.append((here, "sub-commands nest at most inside one group"))
            problems += _option_problems(option.get("options") or [], f"{here}.options", depth=2)
        else:
            required = bool(option.get("required"))
            if required and optional_seen:
                problems.append((here, "required options must come before optional ones"))
            optional_seen = optional_seen or not required
            choices = option.get("choices")
            if choices and (kind not in _CHOICE_TYPES or len(choices) > 25):
                problems.append((f"{here}.choices", "up to 25, for strings and numbers only"))
    return problems


def _form_error(problems: Iterable[Problem]) -> web.Response:
    """Discord's `Invalid Form Body` (50035), its `errors` keyed by where each problem is."""
    errors: dict[str, Any] = {}
    for where, message in problems:
        entry = errors.setdefault(where or "_root", {"_errors": []})
        entry["_errors"].append({"code": "BASE_TYPE_INVALID", "message": message})
    return _json({"message": "Invalid Form Body", "code": 50035, "errors": errors}, status=400)


def check_command_use(
    registered: Mapping[str, Any], subcommand: str | None, options: Mapping[str, Any]
) -> None:
    """Raise `ValueError` for a use no Discord client could send: a sub-command or an option
    the bot did not register, a required option left out, a value of the wrong type or
    outside the choices. Tests thereby show the bot registered what they use."""
    declared: list[Mapping[str, Any]] = list(registered.get("options") or [])
    label = f"/{registered.get('name')}"
    if subcommand is not None:
        found = next(
            (o for o in declared if o.get("type") == 1 and o.get("name") == subcommand), None
        )
        if found is None:
            known = sorted(str(o.get("name")) for o in declared if o.get("type") == 1)
            raise ValueError(f"{label} has no sub-command {subcommand!r}; registered: {known}")
        declared = list(found.get("options") or [])
        label = f"{label} {subcommand}"
    by_name = {str(o.get("name")): o for o in declared}
    for name, value in options.items():
        option = by_name.get(name)
        if option is None:
            raise ValueError(f"{label} has no option {name!r}; registered: {sorted(by_name)}")
        expected = {OPTION_BOOLEAN: bool, OPTION_INTEGER: int, OPTION_STRING: str}.get(
            int(option.get("type") or 0)
        )
        if expected is not None and (
            not isinstance(value, expected) or (expected is int and isinstance(value, bool))
        ):
            raise ValueError(f"{label} {name}: {value!r} is not a {expected.__name__}")
        choices = [c.get("value") for c in option.get("choices") or ()]
        if choices and value not in choices:
            raise ValueError(f"{label} {name}: {value!r} is not one of {choices}")
    missing = [name for name, o in by_name.items() if o.get("required") and name not in options]
    if missing:
        raise ValueError(f"{label} needs {missing}")


# ---------------------------------------------------------------------------------------------
# The world: users, guilds, channels, messages
# ---------------------------------------------------------------------------------------------


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

    @property
    def is_dm(self) -> bool:
        return self.recipient_id is not None


@dataclass(slots=True)
class Interaction:
    """A slash command someone used, and how the bot answered it."""

    id: int
    token: str
    user: User
    channel: Channel
    command: str
    options: dict[str, Any]
    created_at: float = field(default_factory=time.monotonic)
    response_type: int | None = None  # 4 = message, 5 = deferred ("thinking")
    ephemeral: bool = False
    answers: list[str] = field(default_factory=list)  # the shown text, each edit or follow-up


# ---------------------------------------------------------------------------------------------
# Fault injection
# ---------------------------------------------------------------------------------------------


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
        reset = time.time() + self.retry_after
        headers = {
            "Via": "1.1 standin",
            "Retry-After": str(math.ceil(self.retry_after)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{reset:.3f}",
            "X-RateLimit-Reset-After": f"{self.retry_after:.3f}",
            "X-RateLimit-Bucket": "standin-limited",
            "X-RateLimit-Scope": "global" if self.is_global else "user",
        }
        if self.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": self.retry_after,
            "global": self.is_global,
        }
        return _json(body, status=429, headers=headers)


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
        refused = {
            **headers,
            "Via": "1.1 standin",
            "Retry-After": str(max(math.ceil(after), 1)),
            "X-RateLimit-Scope": "user",
        }
        body = {"message": "You are being rate limited.", "retry_after": after, "global": False}
        return _json(body, status=429, headers=refused)


# ---------------------------------------------------------------------------------------------
# Gateway sessions
# ---------------------------------------------------------------------------------------------


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
        return DiscordStandin.shard_for(guild_id, count) == shard_id

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

    @staticmethod
    def shard_for(guild_id: int, shard_count: int) -> int:
        """The shard that receives a guild's events (Discord's formula)."""
        return (guild_id >> 22) % shard_count

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
