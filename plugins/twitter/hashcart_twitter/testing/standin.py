"""A local X: the v2 API the bot calls, the filtered stream, and signed webhook deliveries.

Tests, the playground and plugin authors use it instead of api.x.com. It follows `platforms.md`
§1: OAuth 1.0a user-context signatures are verified with oauthlib's own server-side endpoint,
the stream speaks newline-delimited JSON with blank keep-alive lines, errors are Problem JSON,
a repeated post is refused with X's 403 "duplicate content", and webhook deliveries are signed
exactly as X signs them.

    async with XStandin() as x:
        env = x.env()                               # HASHCART_TWITTER_* pointing here
        product = x.add_tweet(tweet("Look", user=bob, urls=["https://www.amazon.com/dp/B0..."]))
        reply = tweet("#amazoncart", user=alice, in_reply_to=product)
        await x.deliver(f"{app_url}/twitter/webhook", [reply])
        await eventually(lambda: x.replies_to(reply))
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
from aiohttp import web
from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint

from hashcart.testing.standins.oauth2 import AuthorizationServer, OAuthError
from hashcart_twitter.testing.payloads import (
    _HASHTAG,
    _URL,
    BOT_SCREEN_NAME,
    BOT_USER_ID,
    SIGNATURE_HEADER,
    _reply_fields,
    _v2_user,
    crc_response,
    delivery,
    new_tweet_id,
    sign_delivery,
    stream_message,
    to_v2,
    tweet,
    user,
)

__all__ = ["ApiCall", "Delivery", "PostedDM", "PostedTweet", "XStandin"]

DEFAULT_CONSUMER_KEY = "standinconsumerkey"
DEFAULT_CONSUMER_SECRET = "standin-consumer-secret"
DEFAULT_ACCESS_TOKEN = "2244994945-standinaccesstoken"
DEFAULT_ACCESS_TOKEN_SECRET = "standin-access-token-secret"
DEFAULT_BEARER_TOKEN = "standin-bearer-token"
DEFAULT_OAUTH2_CLIENT_ID = "standin-oauth2-client-id"
DEFAULT_OAUTH2_CLIENT_SECRET = "standin-oauth2-client-secret"
#: The most minutes of missed tweets a filtered-stream connection may ask for.
_MAX_BACKFILL = 5


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request the stand-in answered (faulted and refused ones included)."""

    method: str
    path: str
    query: Mapping[str, str]
    body: Any
    auth: str  # "oauth1", "bearer", "oauth2" (a signed-in person), "basic" or "none"
    status: int
    at: float


@dataclass(frozen=True, slots=True)
class PostedTweet:
    id: str
    text: str
    in_reply_to: str | None
    author_id: str
    at: float


@dataclass(frozen=True, slots=True)
class PostedDM:
    event_id: str
    recipient_id: str
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the app answered to one webhook delivery (or CRC check)."""

    status: int
    body: str
    headers: Mapping[str, str]
    payload: bytes = b""
    attempts: int = 1

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class _Fault:
    status: int
    path: str | None
    remaining: int | None
    until: float | None
    reset_in: float
    delay: float = 0.0  # > 0: the call succeeds, but its answer comes this many seconds late

    def live(self, now: float) -> bool:
        if self.until is not None:
            return now < self.until
        return self.remaining is None or self.remaining > 0

    def matches(self, path: str) -> bool:
        return self.path is None or path.startswith(self.path)


@dataclass(slots=True)
class _Stream:
    request: web.Request
    expansions: set[str] = field(default_factory=set)
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)

    @property
    def closed(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()


class _Validator(RequestValidator):  # type: ignore[misc]
    """oauthlib's hooks for one app and one bot account; unknown keys verify against dummies."""

    def __init__(self, standin: XStandin) -> None:
        super().__init__()
        self._x = standin
        self._nonces: dict[tuple[str, str], float] = {}

    enforce_ssl = False
    safe_characters = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    client_key_length = (1, 128)
    access_token_length = (1, 128)
    nonce_length = (8, 128)
    dummy_client = "dummyclientkey"
    dummy_access_token = "dummy-access-token"
    timestamp_lifetime = 600

    def get_client_secret(self, client_key: str, request: Any) -> str:
        return self._x.consumer_secret if client_key == self._x.consumer_key else "dummy"

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        return self._x.access_token_secret if token == self._x.access_token else "dummy"

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return bool(client_key == self._x.consumer_key)

    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: str,
        nonce: str,
        request: Any,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        now = time.time()
        if len(self._nonces) > 50_000:
            self._nonces = {k: t for k, t in self._nonces.items() if now - t < 900}
        key = (timestamp, nonce)
        if key in self._nonces:
            return False
        self._nonces[key] = now
        return True


# ---------------------------------------------------------------------------------------------
# The stand-in server
# ---------------------------------------------------------------------------------------------


class XStandin:
    """X on 127.0.0.1: API v2 at `url`, a filtered stream, and a webhook sender.

    Faults: `fail_next(n, status=429)` refuses the next n calls (a 429 carries
    `x-rate-limit-reset`), `fail_for(seconds, status=503)` refuses everything for a while, and
    `go_down()` / `come_back()` close and reopen the listening socket on the same port.
    """

    platform = "twitter"
    #: The payload builders, for code that gets the stand-in through `hashcart_standins`.
    user = staticmethod(user)
    tweet = staticmethod(tweet)

    def __init__(
        self,
        *,
        consumer_key: str = DEFAULT_CONSUMER_KEY,
        consumer_secret: str = DEFAULT_CONSUMER_SECRET,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        access_token_secret: str = DEFAULT_ACCESS_TOKEN_SECRET,
        bearer_token: str = DEFAULT_BEARER_TOKEN,
        bot: Mapping[str, Any] | None = None,
        keepalive_seconds: float = 20.0,
        max_stream_connections: int = 1,
        duplicate_window: float = 24 * 3600,
        verify_oauth: bool = True,
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.access_token = access_token
        self.access_token_secret = access_token_secret
        self.bearer_token = bearer_token
        self.bot = dict(bot or user(BOT_SCREEN_NAME, BOT_USER_ID, name="hashcart"))
        self.keepalive_seconds = keepalive_seconds
        self.max_stream_connections = max_stream_connections
        self.duplicate_window = duplicate_window
        self.verify_oauth = verify_oauth
        self.calls: list[ApiCall] = []
        self.posted: list[PostedTweet] = []
        self.dms: list[PostedDM] = []
        self.tweets: dict[str, dict[str, Any]] = {}
        #: Accounts the bot follows: its user-context lookups see their protected tweets.
        self.bot_follows: set[str] = set()
        #: Accounts that take no DMs from the bot: X answers a DM to them with a 403.
        self.closed_dms: set[str] = set()
        self.rules: dict[str, dict[str, str]] = {}
        self.stream_connections = 0
        #: False: `backfill_minutes` is refused with a 403, as at access levels without it.
        self.backfill_allowed = True
        # (when, tweet) for every streamed tweet of the last few minutes: what a backfill sends.
        self._streamed: list[tuple[float, dict[str, Any]]] = []
        self.url = ""
        self._faults: list[_Fault] = []
        self._streams: list[_Stream] = []
        self._recent: dict[tuple[str, str], float] = {}
        self._endpoint = SignatureOnlyEndpoint(_Validator(self))
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self._session: aiohttp.ClientSession | None = None
        self._rule_ids = itertools.count(1_500_000_000_000_000_000)
        #: "Sign in with X" (OAuth 2.0 + PKCE); `signin_as(user)` says who is signed in at x.com.
        self.oauth2: AuthorizationServer[dict[str, Any]] = AuthorizationServer(
            client_id=DEFAULT_OAUTH2_CLIENT_ID,
            client_secret=DEFAULT_OAUTH2_CLIENT_SECRET,
            required_scopes=("users.read", "tweet.read"),
            client_auth=("client_secret_basic",),
        )
        self.app = self.make_app()

    # -- lifecycle --------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The aiohttp application; mount it elsewhere (the playground does) or `start()` it."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/2/tweets/search/stream/rules", self._get_rules)
        app.router.add_post("/2/tweets/search/stream/rules", self._post_rules)
        app.router.add_get("/2/tweets/search/stream", self._stream)
        app.router.add_get("/2/tweets/{id}", self._lookup)
        app.router.add_post("/2/tweets", self._create)
        app.router.add_post("/2/dm_conversations/with/{participant_id}/messages", self._dm)
        app.router.add_get("/2/users/me", self._me)
        app.router.add_get("/i/oauth2/authorize", self.oauth2.authorize)
        app.router.add_post("/2/oauth2/token", self._oauth2_token)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        self._host = host
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        self._port = int(self._runner.addresses[0][1])
        self.url = f"http://{host}:{self._port}"
        return self.url

    async def stop(self) -> None:
        self._close_streams()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def __aenter__(self) -> XStandin:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def env(self, *, mode: str = "webhook", **extra: str) -> dict[str, str]:
        """`HASHCART_TWITTER_*` settings that point a hashcart at this stand-in."""
        values = {
            "HASHCART_TWITTER_API_URL": self.url,
            "HASHCART_TWITTER_CONSUMER_KEY": self.consumer_key,
            "HASHCART_TWITTER_CONSUMER_SECRET": self.consumer_secret,
            "HASHCART_TWITTER_ACCESS_TOKEN": self.access_token,
            "HASHCART_TWITTER_ACCESS_TOKEN_SECRET": self.access_token_secret,
            "HASHCART_TWITTER_BEARER_TOKEN": self.bearer_token,
            "HASHCART_TWITTER_BOT_USER_ID": self.bot["id_str"],
            "HASHCART_TWITTER_BOT_SCREEN_NAME": self.bot["screen_name"],
            "HASHCART_TWITTER_MODE": mode,
            "HASHCART_TWITTER_CLIENT_ID": self.oauth2.client_id,
            "HASHCART_TWITTER_CLIENT_SECRET": self.oauth2.client_secret,
            "HASHCART_TWITTER_AUTHORIZE_URL": f"{self.url}/i/oauth2/authorize",
        }
        values.update({f"HASHCART_TWITTER_{k.upper()}": v for k, v in extra.items()})
        return values

    def plugin_env(self) -> dict[str, str]:
        """The settings that point the X plugin here, receiving webhooks."""
        return self.env()

    def signin_as(self, v1_user: Mapping[str, Any] | None) -> None:
        """Who the next "Sign in with X" authorizes (None: nobody, the person refuses)."""
        self.oauth2.user = dict(v1_user) if v1_user is not None else None

    # -- faults -------------------------------------------------------------------------------

    def fail_next(
        self, times: int = 1, *, status: int = 429, reset_in: float = 1.0, path: str | None = None
    ) -> None:
        """Refuse the next `times` calls (to paths starting with `path`) with `status`."""
        self._faults.append(_Fault(status, path, times, None, reset_in))

    def fail_for(self, seconds: float, *, status: int = 503, path: str | None = None) -> None:
        """Refuse every call (to paths starting with `path`) for `seconds`."""
        self._faults.append(_Fault(status, path, None, time.time() + seconds, 1.0))

    def answer_late(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        """Carry out the next `times` calls but answer each only after `seconds`.

        With a client timeout shorter than `seconds` this is the awkward case: the post exists
        while the client believes it failed.
        """
        self._faults.append(_Fault(200, path, times, None, 1.0, delay=seconds))

    def heal(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()

    async def go_down(self) -> None:
        """Stop listening and cut every open connection: clients see refused connections."""
        self._close_streams()
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner is not None and self._runner.server is not None:
            for handler in list(self._runner.server.connections):
                handler.force_close()

    async def come_back(self) -> None:
        """Listen again on the same port."""
        if self._runner is not None and self._site is None:
            self._site = web.TCPSite(self._runner, self._host, self._port)
            await self._site.start()

    # -- timeline -----------------------------------------------------------------------------

    def add_tweet(self, v1: Mapping[str, Any]) -> dict[str, Any]:
        """Publish a tweet so lookups (and replies to it) find it; returns it for chaining."""
        stored = dict(v1)
        self.tweets[stored["id_str"]] = stored
        for key in ("quoted_status", "retweeted_status"):
            if isinstance(stored.get(key), Mapping):
                self.tweets.setdefault(stored[key]["id_str"], dict(stored[key]))
        return stored

    def follow(self, user_or_id: Mapping[str, Any] | str) -> None:
        """The bot follows this account: its lookups (user context) now see protected tweets."""
        self.bot_follows.add(user_or_id if isinstance(user_or_id, str) else user_or_id["id_str"])

    def close_dms(self, user_or_id: Mapping[str, Any] | str) -> None:
        """This account takes no DMs from the bot (X's "allow messages from: nobody/followed")."""
        self.closed_dms.add(user_or_id if isinstance(user_or_id, str) else user_or_id["id_str"])

    def _visible(self, v1: Mapping[str, Any], auth: str) -> bool:
        """Whether a caller may read the tweet: protected ones only as a follower, in user
        context (an app-only bearer token sees public tweets only)."""
        author = v1["user"]
        if not author.get("protected"):
            return True
        return auth == "oauth1" and author["id_str"] in self.bot_follows

    def replies_to(self, v1_or_id: Mapping[str, Any] | str) -> list[PostedTweet]:
        """The bot's reply tweets to one tweet, oldest first."""
        tid = v1_or_id if isinstance(v1_or_id, str) else v1_or_id["id_str"]
        return [p for p in self.posted if p.in_reply_to == tid]

    def dms_to(self, user_or_id: Mapping[str, Any] | str) -> list[PostedDM]:
        uid = user_or_id if isinstance(user_or_id, str) else user_or_id["id_str"]
        return [d for d in self.dms if d.recipient_id == uid]

    def calls_to(self, method: str, path_prefix: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    # -- webhook sender -----------------------------------------------------------------------

    async def deliver(
        self,
        target_url: str,
        tweets: Iterable[Mapping[str, Any]] | None = None,
        *,
        payload: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        secret: str | None = None,
        signature: str | None = None,
        for_user_id: str | None = None,
        retries: int = 0,
        retry_delay: float = 0.0,
    ) -> Delivery:
        """POST one signed Account Activity delivery to the app, as X does.

        Give `tweets` (wrapped in `tweet_create_events`, and published to the timeline), a whole
        `payload`, or raw `body` bytes. `signature` replaces the real one ("" sends none).
        With `retries`, a non-200 answer is delivered again, as X's Enterprise tier does.
        """
        if body is None:
            if payload is None:
                events = [self.add_tweet(t) for t in tweets or ()]
                payload = delivery(events, for_user_id=for_user_id or self.bot["id_str"])
            body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        real = sign_delivery(secret or self.consumer_secret, body)
        chosen = real if signature is None else signature
        if chosen:
            headers[SIGNATURE_HEADER] = chosen
        session = self._client_session()
        attempt = 0
        while True:
            attempt += 1
            async with session.post(target_url, data=body, headers=headers) as resp:
                result = Delivery(resp.status, await resp.text(), dict(resp.headers), body, attempt)
            if result.status == 200 or attempt > retries:
                return result
            await asyncio.sleep(retry_delay)

    async def check_crc(self, target_url: str, *, crc_token: str | None = None) -> bool:
        """Run X's challenge-response check against the app; True when it answers correctly."""
        token = crc_token or secrets.token_urlsafe(24)
        session = self._client_session()
        async with session.get(target_url, params={"crc_token": token}) as resp:
            if resp.status != 200:
                return False
            answer = await resp.json(content_type=None)
        expected = crc_response(self.consumer_secret, token)["response_token"]
        return isinstance(answer, dict) and hmac.compare_digest(
            str(answer.get("response_token", "")), expected
        )

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self._session

    # -- stream -------------------------------------------------------------------------------

    async def stream_tweet(self, v1: Mapping[str, Any]) -> int:
        """Publish a tweet and send it down every open stream whose rules match; returns count.

        With no stream open the tweet is not sent now, but a connection asking for a backfill
        of the minutes since gets it, as on X.
        """
        stored = self.add_tweet(v1)
        now = time.time()
        self._streamed = [(t, s) for t, s in self._streamed if now - t < 60 * _MAX_BACKFILL]
        self._streamed.append((now, stored))
        matched = [rule for rule in self.rules.values() if _matches(rule["value"], stored)]
        if not matched:
            return 0
        for stream in self._streams:
            stream.queue.put_nowait(self._stream_line(stored, matched, stream))
        return len(self._streams)

    def _stream_line(
        self, stored: Mapping[str, Any], matched: Sequence[Mapping[str, str]], stream: _Stream
    ) -> bytes:
        message = stream_message(
            stored,
            known=self.tweets,
            matching_rules=matched,
            expansions=stream.expansions,
            app_only=True,
        )
        return json.dumps(message).encode() + b"\r\n"

    def drop_streams(self) -> None:
        """End every open stream, as X does on an operational disconnect."""
        self._close_streams()

    def _close_streams(self) -> None:
        for stream in self._streams:
            stream.queue.put_nowait(None)

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if not self._bearer_ok(request):
            return self._problem(request, 401, "Unauthorized", "Unauthorized", "unauthorized")
        backfill = request.query.get("backfill_minutes")
        if backfill is not None and (
            not backfill.isdigit() or not 0 <= int(backfill) <= _MAX_BACKFILL
        ):
            return self._problem(
                request,
                400,
                "Invalid Request",
                "The `backfill_minutes` query parameter value must be between 0 and 5",
                "invalid-request",
            )
        minutes = int(backfill or 0)
        if minutes and not self.backfill_allowed:
            return self._problem(
                request,
                403,
                "Client Forbidden",
                "backfill_minutes is not available at your access level",
                "client-forbidden",
            )
        self._streams = [s for s in self._streams if not s.closed]
        if len(self._streams) >= self.max_stream_connections:
            return self._problem(
                request,
                429,
                "ConnectionException",
                "This stream is currently at the maximum allowed connection limit.",
                "streaming-connection",
            )
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        response.headers.update(self._limit_headers())
        await response.prepare(request)
        stream = _Stream(request, _csv(request.query.get("expansions")))
        since = time.time() - 60 * minutes
        for at, stored in self._streamed if minutes else ():
            matched = [r for r in self.rules.values() if _matches(r["value"], stored)]
            if at >= since and matched:
                stream.queue.put_nowait(self._stream_line(stored, matched, stream))
        self._streams.append(stream)
        self.stream_connections += 1
        self._record(request, None, "bearer", 200)
        try:
            while True:
                try:
                    line = await asyncio.wait_for(stream.queue.get(), self.keepalive_seconds)
                except TimeoutError:
                    line = b"\r\n"
                if line is None:
                    break
                await response.write(line)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            if stream in self._streams:
                self._streams.remove(stream)
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response

    @property
    def open_streams(self) -> int:
        """How many clients hold the filtered stream open now."""
        return len([s for s in self._streams if not s.closed])

    async def wait_for_stream(self, within: float = 5.0) -> None:
        """Wait until a client holds the stream open."""
        deadline = time.monotonic() + within
        while not [s for s in self._streams if not s.closed]:
            if time.monotonic() > deadline:
                raise TimeoutError("no client connected to the filtered stream")
            await asyncio.sleep(0.01)

    async def _get_rules(self, request: web.Request) -> web.Response:
        if not self._bearer_ok(request):
            return self._problem(request, 401, "Unauthorized", "Unauthorized", "unauthorized")
        meta = {"sent": _iso_now(), "result_count": len(self.rules)}
        body: dict[str, Any] = {"meta": meta}
        if self.rules:
            body["data"] = list(self.rules.values())
        return self._json(request, 200, body, "bearer")

    async def _post_rules(self, request: web.Request) -> web.Response:
        if not self._bearer_ok(request):
            return self._problem(request, 401, "Unauthorized", "Unauthorized", "unauthorized")
        payload = await _json_body(request)
        if not isinstance(payload, dict) or not ({"add", "delete"} & payload.keys()):
            return self._problem(
                request, 400, "Invalid Request", "add or delete", "invalid-request"
            )
        dry_run = request.query.get("dry_run") == "true"
        now = _iso_now()
        if "delete" in payload:
            ids = [str(i) for i in (payload["delete"] or {}).get("ids", [])]
            gone = [i for i in ids if i in self.rules]
            if not dry_run:
                for rule_id in gone:
                    del self.rules[rule_id]
            summary = {"deleted": len(gone), "not_deleted": len(ids) - len(gone)}
            return self._json(request, 200, {"meta": {"sent": now, "summary": summary}}, "bearer")
        created: list[dict[str, str]] = []
        errors = []
        existing = {rule["value"] for rule in self.rules.values()}
        for rule in payload.get("add") or []:
            value = str(rule.get("value", "")).strip()
            if not value or value in existing:
                errors.append(
                    {
                        "value": value,
                        "id": next(
                            (r["id"] for r in self.rules.values() if r["value"] == value), ""
                        ),
                        "title": "DuplicateRule",
                        "type": "https://api.x.com/2/problems/duplicate-rules",
                    }
                )
                continue
            new = {"id": str(next(self._rule_ids)), "value": value}
            if rule.get("tag"):
                new["tag"] = str(rule["tag"])
            created.append(new)
            existing.add(value)
        if not dry_run:
            self.rules.update({rule["id"]: rule for rule in created})
        summary = {
            "created": len(created),
            "not_created": len(errors),
            "valid": len(created),
            "invalid": len(errors),
        }
        body: dict[str, Any] = {"meta": {"sent": now, "summary": summary}}
        if created:
            body["data"] = created
        if errors:
            body["errors"] = errors
        return self._json(request, 201 if created else 200, body, "bearer")

    # -- REST ---------------------------------------------------------------------------------

    async def _lookup(self, request: web.Request) -> web.Response:
        auth = self._auth(request, allow_bearer=True)
        if auth is None:
            return self._unauthorized(request)
        tweet_id = request.match_info["id"]
        stored = self.tweets.get(tweet_id)
        if stored is None or not self._visible(stored, auth):
            kind = "resource-not-found" if stored is None else "not-authorized-for-resource"
            title = "Not Found Error" if stored is None else "Authorization Error"
            error = {
                "resource_id": tweet_id,
                "resource_type": "tweet",
                "title": title,
                "detail": f"Could not find tweet with id: [{tweet_id}].",
                "type": f"https://api.x.com/2/problems/{kind}",
                "parameter": "id",
                "value": tweet_id,
            }
            return self._json(request, 200, {"errors": [error]}, auth)
        fields = _csv(request.query.get("tweet.fields") or request.query.get("post.fields"))
        expansions = _csv(request.query.get("expansions"))
        data = to_v2(stored, fields=fields)
        body: dict[str, Any] = {"data": data}
        includes: dict[str, Any] = {}
        if "author_id" in expansions:
            includes["users"] = [_v2_user(stored["user"])]
        if {"referenced_tweets.id", "referenced_posts.id"} & expansions:
            refs = [r["id"] for r in to_v2(stored).get("referenced_tweets", [])]
            seen = [
                self.tweets[r]
                for r in refs
                if r in self.tweets and self._visible(self.tweets[r], auth)
            ]
            if seen:
                includes["tweets"] = [to_v2(t, fields=fields) for t in seen]
            if "referenced_tweets.id.author_id" in expansions:
                users = {u["id"]: u for u in includes.get("users", [])}
                for t in seen:
                    users.setdefault(t["user"]["id_str"], _v2_user(t["user"]))
                includes["users"] = list(users.values())
        if includes:
            body["includes"] = includes
        return self._json(request, 200, body, auth)

    async def _create(self, request: web.Request) -> web.Response:
        auth = self._auth(request, allow_bearer=False)
        if auth is None:
            return self._unauthorized(request)
        payload = await _json_body(request)
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip() or _weight(text) > 280:
            return self._problem(
                request,
                400,
                "Invalid Request",
                "text must be 1 to 280 characters",
                "invalid-request",
            )
        assert isinstance(payload, dict)
        reply_to = (payload.get("reply") or {}).get("in_reply_to_tweet_id")
        if reply_to is not None and str(reply_to) not in self.tweets:
            return self._problem(
                request,
                400,
                "Invalid Request",
                "Your Tweet cannot be a reply to a Tweet that does not exist.",
                "invalid-request",
            )
        now = time.time()
        author = self.bot["id_str"]
        seen = self._recent.get((author, text))
        if seen is not None and now - seen < self.duplicate_window:
            body = {
                "detail": "You are not allowed to create a Tweet with duplicate content.",
                "type": "about:blank",
                "title": "Forbidden",
                "status": 403,
            }
            return self._json(request, 403, body, auth, record_body=payload)
        self._recent[(author, text)] = now
        tid = new_tweet_id()
        stored = tweet(text, user=self.bot, tweet_id=tid)
        if reply_to is not None:
            stored.update(_reply_fields(self.tweets[str(reply_to)]))
        self.tweets[tid] = stored
        self.posted.append(PostedTweet(tid, text, str(reply_to) if reply_to else None, author, now))
        data = {"id": tid, "text": text, "edit_history_tweet_ids": [tid]}
        return self._json(request, 201, {"data": data}, auth, record_body=payload)

    async def _dm(self, request: web.Request) -> web.Response:
        auth = self._auth(request, allow_bearer=False)
        if auth is None:
            return self._unauthorized(request)
        payload = await _json_body(request)
        participant = request.match_info["participant_id"]
        valid = (
            isinstance(payload, dict)
            and set(payload) <= {"text", "attachments"}
            and isinstance(payload.get("text"), str)
            and len(payload["text"]) >= 1
        )
        if not valid or not participant.isdigit():
            return self._problem(
                request, 400, "Invalid Request", "a DM needs a text", "invalid-request"
            )
        assert isinstance(payload, dict)
        if participant in self.closed_dms:
            body = {
                "detail": "You are not permitted to send Direct Messages to this user.",
                "type": "about:blank",
                "title": "Forbidden",
                "status": 403,
            }
            return self._json(request, 403, body, auth, record_body=payload)
        event_id = new_tweet_id()
        pair = sorted([participant, self.bot["id_str"]], key=int)
        self.dms.append(PostedDM(event_id, participant, payload["text"], time.time()))
        data = {"dm_conversation_id": "-".join(pair), "dm_event_id": event_id}
        return self._json(request, 201, {"data": data}, auth, record_body=payload)

    async def _oauth2_token(self, request: web.Request) -> web.Response:
        """POST /2/oauth2/token: a confidential client (Basic) trades its code for a token."""
        form = await request.post()
        issued = self.oauth2.exchange(request.headers, form)
        if isinstance(issued, OAuthError):
            refusal = {"error": issued.error, "error_description": f"{issued.error} (stand-in)"}
            return self._json(request, issued.status, refusal, "none")
        body = {
            "token_type": "bearer",
            "expires_in": 7200,
            "access_token": issued.access_token,
            "scope": issued.scope,
        }
        return self._json(request, 200, body, "basic")

    async def _me(self, request: web.Request) -> web.Response:
        signed_in = self.oauth2.bearer_user(request)
        if signed_in is not None:
            return self._json(request, 200, {"data": _v2_user(signed_in)}, "oauth2")
        auth = self._auth(request, allow_bearer=False)
        if auth is None:
            return self._unauthorized(request)
        return self._json(request, 200, {"data": _v2_user(self.bot)}, auth)

    # -- plumbing -----------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        now = time.time()
        self._faults = [f for f in self._faults if f.live(now)]
        fault = next((f for f in self._faults if f.matches(request.path)), None)
        if fault is not None:
            if fault.remaining is not None:
                fault.remaining -= 1
            if fault.delay <= 0:
                return self._fault_response(request, fault, now)
        response: web.StreamResponse = await handler(request)
        if fault is not None:
            await asyncio.sleep(fault.delay)
        return response

    def _fault_response(self, request: web.Request, fault: _Fault, now: float) -> web.Response:
        if fault.status == 429:
            headers = {
                "x-rate-limit-limit": "100",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(int(now + fault.reset_in)),
            }
            body = {
                "title": "Too Many Requests",
                "detail": "Too Many Requests",
                "type": "about:blank",
                "status": 429,
            }
        else:
            headers = {}
            body = {
                "title": "Service Unavailable" if fault.status == 503 else "Internal Server Error",
                "detail": "Service Unavailable" if fault.status == 503 else "Internal Error",
                "type": "about:blank",
                "status": fault.status,
            }
        self._record(request, None, "none", fault.status)
        return web.json_response(body, status=fault.status, headers=headers)

    def _auth(self, request: web.Request, *, allow_bearer: bool) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return "bearer" if allow_bearer and self._bearer_ok(request) else None
        if not header.startswith("OAuth "):
            return None
        if not self.verify_oauth:
            return "oauth1"
        uri = f"{request.scheme}://{request.host}{request.raw_path}"
        # Form bodies are signed, JSON bodies are not: hand oauthlib the headers only.
        valid, oauth_request = self._endpoint.validate_request(
            uri, http_method=request.method, body=None, headers=dict(request.headers)
        )
        token_ok = (
            oauth_request is not None and oauth_request.resource_owner_key == self.access_token
        )
        return "oauth1" if valid and token_ok else None

    def _bearer_ok(self, request: web.Request) -> bool:
        expected = f"Bearer {self.bearer_token}".encode()
        return hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected)

    def _unauthorized(self, request: web.Request) -> web.Response:
        return self._problem(request, 401, "Unauthorized", "Unauthorized", "unauthorized")

    def _problem(
        self, request: web.Request, status: int, title: str, detail: str, kind: str
    ) -> web.Response:
        body = {
            "title": title,
            "detail": detail,
            "type": f"https://api.x.com/2/problems/{kind}",
            "status": status,
        }
        return self._json(request, status, body, "none")

    def _json(
        self,
        request: web.Request,
        status: int,
        body: Mapping[str, Any],
        auth: str,
        *,
        record_body: Any = None,
    ) -> web.Response:
        self._record(request, record_body, auth, status)
        return web.json_response(dict(body), status=status, headers=self._limit_headers())

    def _record(self, request: web.Request, body: Any, auth: str, status: int) -> None:
        self.calls.append(
            ApiCall(
                request.method, request.path, dict(request.query), body, auth, status, time.time()
            )
        )

    @staticmethod
    def _limit_headers() -> dict[str, str]:
        reset = int(time.time()) // 900 * 900 + 900
        return {
            "x-rate-limit-limit": "10000",
            "x-rate-limit-remaining": "9999",
            "x-rate-limit-reset": str(reset),
            "date": format_datetime(datetime.now(UTC), usegmt=True),
        }


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json(loads=json.loads)
    except ValueError:
        return None


def _csv(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _weight(text: str) -> int:
    """X's weighted length, roughly: a URL counts 23, characters past U+10FF count 2."""
    total = 0
    rest = text
    for url in _URL.findall(text):
        total += 23
        rest = rest.replace(url, "", 1)
    return total + sum(1 if ord(ch) <= 0x10FF else 2 for ch in rest)


def _matches(rule: str, v1: Mapping[str, Any]) -> bool:
    """A small subset of X's rule language: `#tag`, `-is:retweet`, `-is:reply` and words."""
    text = (v1.get("extended_tweet", {}).get("full_text") or v1.get("text", "")).lower()
    tags = {m.group(1).lower() for m in _HASHTAG.finditer(text)}
    for token in rule.split():
        negate = token.startswith("-")
        term = token[1:] if negate else token
        if term == "is:retweet":
            hit = "retweeted_status" in v1
        elif term == "is:reply":
            hit = bool(v1.get("in_reply_to_status_id_str"))
        elif term.startswith("#"):
            hit = term[1:].lower() in tags
        else:
            hit = term.lower() in text
        if hit == negate:
            return False
    return True
