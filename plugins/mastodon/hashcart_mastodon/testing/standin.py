"""A local Mastodon instance: the REST calls a bot makes and the streaming API it listens to.

Tests, the playground and plugin authors use it instead of a real instance. It follows the
Mastodon API as documented: bearer tokens (401 `{"error": ...}` otherwise), statuses whose
`content` is HTML with mention, hashtag and shortened-link markup, notifications paged newest
first with `min_id`, `Idempotency-Key` on posting, the 500-character limit (422), rate limiting
with `X-RateLimit-*` headers (429), and server-sent events with `:thump` heartbeats.

    async with MastodonStandin() as mastodon:
        env = mastodon.env()                          # HASHCART_MASTODON_* pointing here
        alice, bob = mastodon.add_account("alice"), mastodon.add_account("bob")
        product = mastodon.post(bob, "Look", urls=["https://www.amazon.com/dp/B00X4WHP5E"])
        ask = mastodon.post(alice, "@hashcart #amazoncart", in_reply_to=product)
        await eventually(lambda: mastodon.replies_to(ask))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from hashcart.testing.standins import LocalServer
from hashcart.testing.standins.oauth2 import AuthorizationServer, OAuthError
from hashcart_mastodon.client import id_key
from hashcart_mastodon.testing.models import (
    _HASHTAG,
    _MENTION,
    Account,
    ApiCall,
    Notification,
    Status,
    _Fault,
    _notification_ids,
    _now,
    _status_id,
)

CHARACTER_LIMIT = 500
VISIBILITIES = ("public", "unlisted", "private", "direct")

_FORM = web.RequestKey("form", dict)


class MastodonStandin(LocalServer):
    """One Mastodon instance whose only app token belongs to the bot account `@hashcart`."""

    platform = "mastodon"
    token = "standin-mastodon-token"
    domain = "social.example"

    def __init__(self, *, heartbeat_seconds: float = 10.0) -> None:
        self.heartbeat_seconds = heartbeat_seconds
        self.accounts: dict[str, Account] = {}
        self.statuses: dict[str, Status] = {}
        self.notifications: list[Notification] = []
        self.calls: list[ApiCall] = []
        self.bot = self.add_account("hashcart", bot=True)
        self._by_key: dict[str, Status] = {}
        self._faults: list[_Fault] = []
        self._streams: set[asyncio.Queue[str | None]] = set()
        self.stream_connections = 0
        #: OAuth sign-in of the instance's own accounts; `signin_as(account)` says who.
        self.oauth2: AuthorizationServer[Account] = AuthorizationServer(
            client_id="standin-mastodon-client-id",
            client_secret="standin-mastodon-client-secret",
            required_scopes=("read:accounts",),
            require_pkce=False,
        )

    async def stop(self) -> None:
        self.drop_streams()
        await super().stop()

    def plugin_env(self) -> dict[str, str]:
        return self.env()

    def env(self, **overrides: str) -> dict[str, str]:
        """`HASHCART_MASTODON_*` for a bot on this instance; `overrides` use the short names."""
        values = {"api_url": self.url, "access_token": self.token, "reconnect_seconds": "0.05"}
        values.update(overrides)
        return {f"HASHCART_MASTODON_{key.upper()}": value for key, value in values.items()}

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/api/v1/accounts/verify_credentials", self._verify_credentials)
        app.router.add_get("/oauth/authorize", self.oauth2.authorize)
        app.router.add_post("/oauth/token", self._oauth_token)
        app.router.add_get("/api/v1/statuses/{id}", self._get_status)
        app.router.add_post("/api/v1/statuses", self._post_status)
        app.router.add_get("/api/v1/notifications", self._get_notifications)
        app.router.add_get("/api/v1/streaming/health", self._health)
        app.router.add_get("/api/v1/streaming/user/notification", self._stream)
        return app

    def add_account(
        self, username: str, *, domain: str | None = None, bot: bool = False
    ) -> Account:
        """A local account, or a remote one when `domain` names another instance."""
        account = Account(
            id=str(100_000 + len(self.accounts) * 7919),
            username=username,
            domain=domain or self.domain,
            local=domain is None or domain == self.domain,
            bot=bot,
        )
        self.accounts[account.acct.lower()] = account
        return account

    def signin_as(self, account: Account | None) -> None:
        """Who the next OAuth sign-in authorizes: an account of this instance, or None."""
        if account is not None and not account.local:
            raise ValueError(f"{account.acct} signs in at {account.domain}, not here")
        self.oauth2.user = account

    def post(
        self,
        author: Account,
        text: str,
        *,
        urls: Iterable[str] = (),
        in_reply_to: Status | None = None,
        visibility: str = "public",
    ) -> Status:
        """Publish a status as `author`; mentioning the bot notifies it (REST and stream)."""
        full = " ".join([text, *urls]).strip()
        if in_reply_to is not None and in_reply_to.account != author:
            handle = f"@{in_reply_to.account.acct}"
            if handle.lower() not in full.lower():
                full = f"{handle} {full}"
        return self._publish(author, full, in_reply_to, visibility, "en")

    def _publish(
        self,
        author: Account,
        text: str,
        in_reply_to: Status | None,
        visibility: str,
        language: str | None,
    ) -> Status:
        mentions = tuple(
            dict.fromkeys(
                account
                for m in _MENTION.finditer(text)
                if (account := self._account_for(m.group(1), m.group(2))) is not None
            )
        )
        status = Status(
            id=_status_id(),
            account=author,
            text=text,
            visibility=visibility,
            in_reply_to=in_reply_to,
            mentions=mentions,
            tags=tuple(dict.fromkeys(m.group(1) for m in _HASHTAG.finditer(text))),
            language=language,
            created_at=_now(),
            local_domain=self.domain,
        )
        self.statuses[status.id] = status
        if self.bot in mentions and author != self.bot:
            self.notify(status)
        return status

    def notify(self, status: Status) -> Notification:
        """Record a mention notification for the bot and push it to every open stream."""
        notification = Notification(
            id=str(next(_notification_ids)),
            type="mention",
            account=status.account,
            status=status,
            created_at=status.created_at,
        )
        self.notifications.append(notification)
        message = f"event: notification\ndata: {json.dumps(notification.to_json())}\n\n"
        for queue in self._streams:
            queue.put_nowait(message)
        return notification

    def _account_for(self, username: str, domain: str | None) -> Account | None:
        here = domain is None or domain.lower() == self.domain
        return self.accounts.get(username.lower() if here else f"{username}@{domain}".lower())

    @property
    def posted(self) -> list[Status]:
        """Statuses the bot posted, oldest first."""
        return [s for s in self.statuses.values() if s.account == self.bot]

    def replies_to(self, status: Status) -> list[Status]:
        return [s for s in self.posted if s.in_reply_to is not None and s.in_reply_to == status]

    def calls_to(self, method: str, path: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def fail_next(
        self, method: str, path: str, status: int, *, times: int = 1, reset_seconds: float = 1.0
    ) -> None:
        """The next `times` calls to `path` (a prefix) answer `status`; 429 carries the reset."""
        self._faults.append(_Fault(method.upper(), path, status, times, reset_seconds))

    def clear_faults(self) -> None:
        """Forget the faults still armed by `fail_next`: the instance answers normally again."""
        self._faults.clear()

    def drop_streams(self) -> None:
        """Close every open stream, as an instance restart or a proxy timeout would."""
        for queue in list(self._streams):
            queue.put_nowait(None)

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        form: dict[str, Any] = {}
        if request.method == "POST" and request.can_read_body:
            form = await _read_params(request)
        request[_FORM] = form
        self.calls.append(ApiCall(request.method, request.path))
        sent = request.headers.get("Authorization", "")
        token = sent.removeprefix("Bearer ") if sent.startswith("Bearer ") else None
        signing_in = request.path in ("/oauth/authorize", "/oauth/token") or (
            request.path == "/api/v1/accounts/verify_credentials"
            and self.oauth2.bearer_user(request) is not None
        )
        if request.path != "/api/v1/streaming/health" and not signing_in and token != self.token:
            return _error(401, "The access token is invalid")
        for fault in self._faults:
            if fault.remaining > 0 and fault.matches(request.method, request.path):
                fault.remaining -= 1
                return self._fault_response(fault)
        response: web.StreamResponse = await handler(request)
        if not isinstance(response, web.Response) or response.prepared:
            return response
        response.headers.update(self._rate_headers(remaining=299))
        return response

    def _rate_headers(self, remaining: int, reset_seconds: float = 300.0) -> dict[str, str]:
        reset = datetime.now(UTC) + timedelta(seconds=reset_seconds)
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    def _fault_response(self, fault: _Fault) -> web.Response:
        if fault.status == 429:
            response = _error(429, "Too many requests")
            response.headers.update(self._rate_headers(0, fault.reset_seconds))
            return response
        return _error(fault.status, "Service Unavailable" if fault.status >= 500 else "Error")

    async def _oauth_token(self, request: web.Request) -> web.Response:
        form: dict[str, Any] = request[_FORM]
        issued = self.oauth2.exchange(request.headers, form)
        if isinstance(issued, OAuthError):
            body = {"error": issued.error, "error_description": f"{issued.error} (stand-in)"}
            return web.json_response(body, status=issued.status)
        return web.json_response(
            {
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "scope": issued.scope,
                "created_at": int(time.time()),
            }
        )

    async def _verify_credentials(self, request: web.Request) -> web.Response:
        body = (self.oauth2.bearer_user(request) or self.bot).to_json()
        body["source"] = {"privacy": "public", "sensitive": False, "language": "en", "note": ""}
        return web.json_response(body)

    async def _get_status(self, request: web.Request) -> web.Response:
        status = self.statuses.get(request.match_info["id"])
        if status is None or not self._visible_to_bot(status):
            return _error(404, "Record not found")
        return web.json_response(status.to_json())

    def _visible_to_bot(self, status: Status) -> bool:
        return status.visibility != "direct" or self.bot in (status.account, *status.mentions)

    async def _post_status(self, request: web.Request) -> web.Response:
        params: dict[str, Any] = request[_FORM]
        key = request.headers.get("Idempotency-Key")
        if key and key in self._by_key:
            return web.json_response(self._by_key[key].to_json())
        text = str(params.get("status") or "")
        if not text.strip():
            return _error(422, "Validation failed: Text can't be blank")
        if len(text) > CHARACTER_LIMIT:
            exceeded = f"Validation failed: Text character limit of {CHARACTER_LIMIT} exceeded"
            return _error(422, exceeded)
        visibility = str(params.get("visibility") or "public")
        if visibility not in VISIBILITIES:
            return _error(422, "Validation failed: Visibility is not included in the list")
        parent = None
        if params.get("in_reply_to_id"):
            parent = self.statuses.get(str(params["in_reply_to_id"]))
            if parent is None:
                return _error(404, "Record not found")
        language = str(params["language"]) if params.get("language") else None
        status = self._publish(self.bot, text, parent, visibility, language)
        if key:
            self._by_key[key] = status
        return web.json_response(status.to_json())

    async def _get_notifications(self, request: web.Request) -> web.Response:
        types = set(request.query.getall("types[]", [])) or None
        try:
            limit = max(1, min(int(request.query.get("limit", "40")), 80))
        except ValueError:
            return _error(422, "limit must be a number")
        found = [n for n in self.notifications if types is None or n.type in types]
        found.sort(key=lambda n: id_key(n.id))
        if "min_id" in request.query:
            # min_id pages forward: the `limit` notifications just after it, still newest first.
            found = [n for n in found if id_key(n.id) > id_key(request.query["min_id"])]
            page = found[:limit]
        else:
            page = found[-limit:]
        return web.json_response([n.to_json() for n in reversed(page)])

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: `:)` on connect, `:thump` heartbeats, one event per message."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._streams.add(queue)
        self.stream_connections += 1
        try:
            await response.write(b":)\n")
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=self.heartbeat_seconds)
                except TimeoutError:
                    await response.write(b":thump\n")
                    continue
                if item is None:
                    break
                await response.write(item.encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._streams.discard(queue)
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Mastodon takes form fields or a JSON object alike."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            return {}
        return dict(body) if isinstance(body, dict) else {}
    form = await request.post()
    return {key: str(value) for key, value in form.items()}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
