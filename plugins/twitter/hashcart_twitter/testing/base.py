"""The X stand-in's state: life cycle, faults, timeline, webhook sender and request plumbing;
its endpoints (`standin.py`) build on it."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web
from oauthlib.oauth1 import SignatureOnlyEndpoint

from hashcart.testing.standins import LocalServer
from hashcart.testing.standins.oauth2 import AuthorizationServer
from hashcart_twitter.testing.payloads import (
    BOT_SCREEN_NAME,
    BOT_USER_ID,
    SIGNATURE_HEADER,
    crc_response,
    delivery,
    sign_delivery,
    user,
)
from hashcart_twitter.testing.records import (
    ApiCall,
    Delivery,
    PostedDM,
    PostedTweet,
    _Fault,
    _Stream,
    _Validator,
)


class XStandinBase(LocalServer):
    consumer_key = "standinconsumerkey"
    access_token = "2244994945-standinaccesstoken"
    access_token_secret = "standin-access-token-secret"
    bearer_token = "standin-bearer-token"
    #: How long X refuses a post that repeats one of the same account's texts.
    duplicate_window = 24 * 3600.0

    def __init__(
        self,
        *,
        consumer_secret: str = "standin-consumer-secret",
        keepalive_seconds: float = 20.0,
        max_stream_connections: int = 1,
        verify_oauth: bool = True,
    ) -> None:
        self.consumer_secret = consumer_secret
        self.bot = user(BOT_SCREEN_NAME, BOT_USER_ID, name="hashcart")
        self.keepalive_seconds = keepalive_seconds
        self.max_stream_connections = max_stream_connections
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
        self._faults: list[_Fault] = []
        self._streams: list[_Stream] = []
        self._recent: dict[tuple[str, str], float] = {}
        self._endpoint = SignatureOnlyEndpoint(_Validator(self))
        self._site: web.TCPSite | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self._rule_ids = itertools.count(1_500_000_000_000_000_000)
        #: "Sign in with X" (OAuth 2.0 + PKCE); `signin_as(user)` says who is signed in at x.com.
        self.oauth2: AuthorizationServer[dict[str, Any]] = AuthorizationServer(
            client_id="standin-oauth2-client-id",
            client_secret="standin-oauth2-client-secret",
            required_scopes=("users.read", "tweet.read"),
            client_auth=("client_secret_basic",),
        )
        self.app = self.make_app()

    def make_app(self) -> web.Application:
        """The aiohttp application: `XStandin` adds the endpoints built on this base."""
        raise NotImplementedError

    def drop_streams(self) -> None:
        """End every open stream, as X does on an operational disconnect."""
        for stream in self._streams:
            stream.queue.put_nowait(None)

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
        self.drop_streams()
        self._site = None
        await super().stop()

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

    def fail_next(
        self, times: int = 1, *, status: int = 429, reset_in: float = 1.0, path: str | None = None
    ) -> None:
        """Refuse the next `times` calls (to paths starting with `path`) with `status`."""
        self._faults.append(_Fault(status, path, times, None, reset_in))

    def fail_for(self, seconds: float, *, status: int = 503, path: str | None = None) -> None:
        """Refuse every call (to paths starting with `path`) for `seconds`."""
        self._faults.append(_Fault(status, path, None, time.time() + seconds, 1.0))

    def answer_late(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        """Carry out the next `times` calls but answer each only after `seconds`: with a shorter
        client timeout, the post exists while the client believes it failed."""
        self._faults.append(_Fault(200, path, times, None, 1.0, delay=seconds))

    def heal(self) -> None:
        self._faults.clear()

    async def go_down(self) -> None:
        """Stop listening and cut every open connection: clients see refused connections."""
        self.drop_streams()
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner is not None and self._runner.server is not None:
            for handler in list(self._runner.server.connections):
                handler.force_close()

    async def come_back(self) -> None:
        if self._runner is not None and self._site is None:
            self._site = web.TCPSite(self._runner, self._host, self._port)
            await self._site.start()

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
        self.bot_follows.add(_id_of(user_or_id))

    def close_dms(self, user_or_id: Mapping[str, Any] | str) -> None:
        """This account takes no DMs from the bot (X's "allow messages from: nobody/followed")."""
        self.closed_dms.add(_id_of(user_or_id))

    def _visible(self, v1: Mapping[str, Any], auth: str) -> bool:
        """Whether a caller may read the tweet: protected ones only as a follower, in user
        context (an app-only bearer token sees public tweets only)."""
        author = v1["user"]
        if not author.get("protected"):
            return True
        return auth == "oauth1" and author["id_str"] in self.bot_follows

    def replies_to(self, v1_or_id: Mapping[str, Any] | str) -> list[PostedTweet]:
        """The bot's reply tweets to one tweet, oldest first."""
        return [p for p in self.posted if p.in_reply_to == _id_of(v1_or_id)]

    def dms_to(self, user_or_id: Mapping[str, Any] | str) -> list[PostedDM]:
        return [d for d in self.dms if d.recipient_id == _id_of(user_or_id)]

    def calls_to(self, method: str, path_prefix: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    async def deliver(
        self,
        target_url: str,
        tweets: Iterable[Mapping[str, Any]] | None = None,
        *,
        payload: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        secret: str | None = None,
        signature: str | None = None,
    ) -> Delivery:
        """POST one signed Account Activity delivery to the app, as X does.

        Give `tweets` (wrapped in `tweet_create_events`, and published to the timeline), a whole
        `payload`, or raw `body` bytes. `signature` replaces the real one ("" sends none).
        """
        if body is None:
            if payload is None:
                payload = delivery([self.add_tweet(t) for t in tweets or ()])
            body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        real = sign_delivery(secret or self.consumer_secret, body)
        chosen = real if signature is None else signature
        if chosen:
            headers[SIGNATURE_HEADER] = chosen
        async with self.delivery_session().post(target_url, data=body, headers=headers) as resp:
            return Delivery(resp.status, await resp.text(), dict(resp.headers))

    async def check_crc(self, target_url: str, *, crc_token: str | None = None) -> bool:
        """Run X's challenge-response check against the app; True when it answers correctly."""
        token = crc_token or secrets.token_urlsafe(24)
        session = self.delivery_session()
        async with session.get(target_url, params={"crc_token": token}) as resp:
            if resp.status != 200:
                return False
            answer = await resp.json(content_type=None)
        expected = crc_response(self.consumer_secret, token)["response_token"]
        return isinstance(answer, dict) and hmac.compare_digest(
            str(answer.get("response_token", "")), expected
        )

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
        headers = {}
        if fault.status == 429:
            title = detail = "Too Many Requests"
            headers = {
                "x-rate-limit-limit": "100",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(int(now + fault.reset_in)),
            }
        elif fault.status == 503:
            title = detail = "Service Unavailable"
        else:
            title, detail = "Internal Server Error", "Internal Error"
        body = {"title": title, "detail": detail, "type": "about:blank", "status": fault.status}
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

    def _invalid(self, request: web.Request, detail: str) -> web.Response:
        return self._problem(request, 400, "Invalid Request", detail, "invalid-request")

    def _problem(
        self, request: web.Request, status: int, title: str, detail: str, kind: str
    ) -> web.Response:
        problem = f"https://api.x.com/2/problems/{kind}"
        body = {"title": title, "detail": detail, "type": problem, "status": status}
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


def _id_of(obj_or_id: Mapping[str, Any] | str) -> str:
    return obj_or_id if isinstance(obj_or_id, str) else str(obj_or_id["id_str"])
