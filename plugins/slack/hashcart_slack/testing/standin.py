"""A local Slack: the Web API, `response_url` endpoints, and signed deliveries to an app.

Tests, the playground and plugin authors use it instead of slack.com. It speaks the wire format of
`platforms.md` §2 closely enough that the real `slack_sdk` client and a real Bolt app accept it:
JSON bodies with `{"ok": ...}`, 429 with an integer `Retry-After`, v0 request signatures.

    async with SlackStandin() as slack:
        settings = {"HASHCART_SLACK_API_URL": slack.api_url, ...}
        delivery = await slack.slash_command(f"{app_url}/slack/events", "add <https://...>")
        await eventually(lambda: slack.responses_to(delivery.response_url))
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from hashcart.testing.standins.oauth2 import AuthorizationServer, OAuthError
from hashcart_slack.testing.payloads import (
    _ids,
    app_uninstalled_event,
    event_callback,
    message_event,
    new_event_id,
    new_trigger_id,
    new_ts,
    signed_headers,
    slash_command_form,
    tokens_revoked_event,
)

__all__ = ["ApiCall", "Delivery", "ResponsePost", "SlackStandin"]

DEFAULT_SIGNING_SECRET = "standin-signing-secret"
DEFAULT_BOT_TOKEN = "xoxb-standin-token"

#: Slack lets a response_url be used this many times, for this long.
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60


# ---------------------------------------------------------------------------------------------
# Records of what the app did
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One Web API call the stand-in answered (faulted calls included, with their status)."""

    method: str
    params: Mapping[str, Any]
    token: str | None
    status: int
    ok: bool
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class ResponsePost:
    """One JSON message posted to a `response_url`."""

    response_url: str
    body: Mapping[str, Any]
    at: float

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the app answered to one signed delivery."""

    status: int
    body: str
    headers: Mapping[str, str]
    response_url: str | None = None
    trigger_id: str | None = None
    event_id: str | None = None
    payload: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class _Fault:
    status: int
    remaining: int
    retry_after: int | None
    error: str


@dataclass(slots=True)
class _ResponseUrl:
    created: float
    uses: int = 0


@dataclass(slots=True)
class _Channel:
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# The stand-in server
# ---------------------------------------------------------------------------------------------


class SlackStandin:
    """A Slack workspace on 127.0.0.1: Web API at `api_url`, response URLs, signed deliveries.

    Faults are injected per Web API method (or `"response_url"`) with `fail(...)` and are used up
    one call at a time, so a test can check that a 429 is retried and that the retry succeeds.

    `start()` serves it on a port of its own. To mount `app` inside another server instead (the
    playground does), set `url` to the base URL it is reachable at, so `api_url` and new
    response URLs point there.
    """

    platform = "slack"
    #: The payload builders, for code that gets the stand-in through `hashcart_standins`.
    new_trigger_id = staticmethod(new_trigger_id)
    new_event_id = staticmethod(new_event_id)
    message_event = staticmethod(message_event)

    def __init__(
        self,
        *,
        signing_secret: str = DEFAULT_SIGNING_SECRET,
        bot_token: str = DEFAULT_BOT_TOKEN,
        team_id: str = "T0001",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        check_token: bool = True,
    ) -> None:
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.check_token = check_token
        #: Scopes auth.test reports in `X-OAuth-Scopes`, as Slack does for the token's grant.
        self.scopes: list[str] = [
            "commands",
            "chat:write",
            "channels:history",
            "groups:history",
            "im:history",
            "reactions:read",
        ]
        self.calls: list[ApiCall] = []
        self.responses: list[ResponsePost] = []
        self.users: dict[str, dict[str, Any]] = {}
        self._channels: dict[str, _Channel] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self.client_id = "standin-client-id"
        self.client_secret = "standin-client-secret"
        #: Valid bot tokens and the workspace each belongs to; OAuth installs add more.
        self.tokens: dict[str, str] = {bot_token: team_id}
        self._oauth_codes: dict[str, tuple[str, str, str]] = {}
        #: "Sign in with Slack" (OpenID Connect); `signin_as(...)` says who is signed in.
        self.openid: AuthorizationServer[dict[str, str]] = AuthorizationServer(
            client_id=self.client_id,
            client_secret=self.client_secret,
            required_scopes=("openid",),
            require_pkce=False,
        )
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""
        self.app = self.make_app()

    # -- lifecycle --------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The aiohttp application; mount it elsewhere (the playground does) or `start()` it."""
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{token:.+}", self._response_url)
        app.router.add_get("/openid/connect/authorize", self.openid.authorize)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = int(self._runner.addresses[0][1])
        self.url = f"http://{host}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def plugin_env(self) -> dict[str, str]:
        """The settings that point the Slack plugin here."""
        return {
            "HASHCART_SLACK_SIGNING_SECRET": self.signing_secret,
            "HASHCART_SLACK_BOT_TOKEN": self.bot_token,
            "HASHCART_SLACK_API_URL": self.api_url,
        }

    async def __aenter__(self) -> SlackStandin:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """The value for `HASHCART_SLACK_API_URL` (slack_sdk appends the method name)."""
        return f"{self.url}/api/"

    # -- workspace state ----------------------------------------------------------------------

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0BOB",
        ts: str | None = None,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        """Put a message into a channel's history so `conversations.history` can return it."""
        stamp = ts or new_ts()
        message: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": stamp}
        if thread_ts is not None and thread_ts != stamp:
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = user
        self._channels.setdefault(channel, _Channel()).messages[stamp] = message
        return message

    def oauth_code(
        self, team_id: str, *, team_name: str = "Other team", installer: str = "U0INSTALLER"
    ) -> str:
        """A one-time code, as Slack hands to the app's redirect URL when a workspace installs."""
        code = secrets.token_hex(10)
        self._oauth_codes[code] = (team_id, team_name, installer)
        return code

    def signin_as(self, user_id: str | None, *, name: str | None = None) -> None:
        """Who the next "Sign in with Slack" authorizes, in this workspace (None: nobody)."""
        if user_id is None:
            self.openid.user = None
            return
        self.openid.user = {"user_id": user_id, "name": name or user_id.lower()}

    def new_response_url(self) -> str:
        token = f"T{next(_ids)}/{secrets.token_hex(8)}"
        self._response_urls[token] = _ResponseUrl(created=time.time())
        return f"{self.url}/response/{token}"

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        times: int = 1,
        retry_after: int | None = 1,
        error: str | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` (or `"response_url"`) with `status`.

        A 429 carries `Retry-After: <retry_after>` as an integer, as Slack sends it.
        """
        code = error or ("ratelimited" if status == 429 else "internal_error")
        fault = _Fault(status, times, retry_after if status == 429 else None, code)
        self._faults.setdefault(method, []).append(fault)

    def calls_to(self, method: str) -> list[ApiCall]:
        """Successful calls of one Web API method, oldest first."""
        return [c for c in self.calls if c.method == method and c.ok]

    @property
    def ephemerals(self) -> list[Mapping[str, Any]]:
        """Parameters of every `chat.postEphemeral` that succeeded."""
        return [c.params for c in self.calls_to("chat.postEphemeral")]

    def responses_to(self, response_url: str | None) -> list[ResponsePost]:
        return [r for r in self.responses if r.response_url == response_url]

    # -- delivering to the app ----------------------------------------------------------------

    async def deliver(
        self,
        target_url: str,
        body: bytes,
        *,
        content_type: str,
        retry_num: int | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        signature: str | None = None,
    ) -> Delivery:
        """POST one signed body to the app, as Slack would; `signature` overrides the real one."""
        headers = signed_headers(
            secret or self.signing_secret,
            body,
            content_type=content_type,
            timestamp=timestamp,
            retry_num=retry_num,
        )
        if signature is not None:
            headers["X-Slack-Signature"] = signature
        session = self._client_session()
        async with session.post(target_url, data=body, headers=headers) as resp:
            text = await resp.text()
            return Delivery(resp.status, text, dict(resp.headers), payload=body)

    async def slash_command(
        self,
        target_url: str,
        text: str,
        *,
        user_id: str = "U0ALICE",
        channel_id: str = "C0GENERAL",
        trigger_id: str | None = None,
        response_url: str | None = None,
        retry_num: int | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        command: str = "/cart",
    ) -> Delivery:
        """Type `/cart <text>` as `user_id`; the reply will arrive at `Delivery.response_url`."""
        url = response_url or self.new_response_url()
        trigger = trigger_id or new_trigger_id()
        body = slash_command_form(
            text,
            response_url=url,
            user_id=user_id,
            user_name=self.users.get(user_id, {}).get("name", user_id.lower()),
            team_id=self.team_id,
            channel_id=channel_id,
            command=command,
            trigger_id=trigger,
        )
        delivery = await self.deliver(
            target_url,
            body,
            content_type="application/x-www-form-urlencoded",
            retry_num=retry_num,
            timestamp=timestamp,
            secret=secret,
        )
        return Delivery(
            delivery.status, delivery.body, delivery.headers, url, trigger, payload=body
        )

    async def send_event(
        self,
        target_url: str,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        team_id: str | None = None,
    ) -> Delivery:
        """Deliver one Events API `event_callback`; reuse `event_id` to play a retry."""
        eid = event_id or new_event_id()
        if event.get("type") == "message" and "ts" in event and not event.get("subtype"):
            channel = str(event.get("channel", ""))
            stored = {k: v for k, v in event.items() if k not in ("channel", "event_ts")}
            self._channels.setdefault(channel, _Channel()).messages[str(event["ts"])] = stored
        body = event_callback(
            event, event_id=eid, team_id=team_id or self.team_id, bot_user_id=self.bot_user_id
        )
        delivery = await self.deliver(
            target_url,
            body,
            content_type="application/json",
            retry_num=retry_num,
            timestamp=timestamp,
            secret=secret,
        )
        return Delivery(
            delivery.status, delivery.body, delivery.headers, event_id=eid, payload=body
        )

    async def uninstall(self, target_url: str, team_id: str | None = None) -> Delivery:
        """A workspace removes the app: its bot tokens stop working, then `app_uninstalled`."""
        team = team_id or self.team_id
        self._revoke(team)
        return await self.send_event(target_url, app_uninstalled_event(), team_id=team)

    async def revoke_bot_token(self, target_url: str, team_id: str | None = None) -> Delivery:
        """A workspace admin revokes the bot's token: it stops working, then `tokens_revoked`."""
        team = team_id or self.team_id
        self._revoke(team)
        event = tokens_revoked_event(bot=[self.bot_user_id])
        return await self.send_event(target_url, event, team_id=team)

    def _revoke(self, team_id: str) -> None:
        for token in [t for t, team in self.tokens.items() if team == team_id]:
            del self.tokens[token]

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    # -- the Web API --------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    loaded = await request.json()
                except ValueError:
                    return self._record(
                        method, params, None, 400, {"ok": False, "error": "invalid_json"}
                    )
                if isinstance(loaded, dict):
                    params.update(loaded)
            else:
                params.update(await request.post())
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else params.get("token")
        fault = self._take_fault(method)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            return self._record(
                method, params, token, fault.status, {"ok": False, "error": fault.error}, headers
            )
        if method == "oauth.v2.access":
            return self._record(method, params, token, 200, self._oauth_access(request, params))
        if method == "openid.connect.token":
            return self._record(method, params, token, 200, self._openid_token(request, params))
        if method == "openid.connect.userInfo":
            return self._record(method, params, token, 200, self._openid_user(str(token or "")))
        if self.check_token and token not in self.tokens:
            return self._record(method, params, token, 200, {"ok": False, "error": "invalid_auth"})
        params["_team_id"] = self.tokens.get(str(token), self.team_id)
        handler = _METHODS.get(method)
        if handler is None:
            return self._record(
                method, params, token, 200, {"ok": False, "error": "unknown_method"}
            )
        scopes = {"X-OAuth-Scopes": ",".join(self.scopes)} if method == "auth.test" else None
        return self._record(method, params, token, 200, handler(self, params), scopes)

    def _record(
        self,
        method: str,
        params: Mapping[str, Any],
        token: str | None,
        status: int,
        payload: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        recorded = {k: v for k, v in params.items() if not k.startswith("_")}
        ok = bool(payload.get("ok"))
        self.calls.append(ApiCall(method, recorded, token, status, ok, time.time()))
        return web.json_response(dict(payload), status=status, headers=headers)

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        return fault

    def _auth_test(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://standin.slack.com/",
            "team": "Stand-in",
            "user": "hashcart",
            "team_id": params["_team_id"],
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _oauth_access(self, request: web.Request, params: Mapping[str, Any]) -> dict[str, Any]:
        """oauth.v2.access: client credentials (Basic auth or form) and a one-time code."""
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            basic = aiohttp.BasicAuth.decode(auth)
            client_id, client_secret = basic.login, basic.password
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return {"ok": False, "error": "invalid_client_id"}
        grant = self._oauth_codes.pop(str(params.get("code") or ""), None)
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        team_id, team_name, installer = grant
        token = f"xoxb-{team_id.lower()}-{secrets.token_hex(8)}"
        self.tokens[token] = team_id
        return {
            "ok": True,
            "app_id": "A0HASHCART",
            "authed_user": {"id": installer},
            "scope": ",".join(self.scopes),
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": self.bot_user_id,
            "team": {"id": team_id, "name": team_name},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _openid_token(self, request: web.Request, params: Mapping[str, Any]) -> dict[str, Any]:
        """openid.connect.token: Slack words every refusal as `{"ok": false, "error": ...}`."""
        form = {k: v for k, v in params.items() if not k.startswith("_")}
        issued = self.openid.exchange(request.headers, form)
        if isinstance(issued, OAuthError):
            errors = {"invalid_client": "invalid_client_id", "invalid_grant": "invalid_code"}
            return {"ok": False, "error": errors.get(issued.error, issued.error)}
        return {
            "ok": True,
            "access_token": f"xoxp-{issued.access_token}",
            "token_type": "Bearer",
        }

    def _openid_user(self, token: str) -> dict[str, Any]:
        """openid.connect.userInfo: the signed-in person's OpenID claims."""
        person = self.openid.tokens.get(token.removeprefix("xoxp-"))
        if person is None or not token.startswith("xoxp-"):
            return {"ok": False, "error": "invalid_auth"}
        return {
            "ok": True,
            "sub": person["user_id"],
            "https://slack.com/user_id": person["user_id"],
            "https://slack.com/team_id": self.team_id,
            "name": person["name"],
            "https://slack.com/team_name": "Stand-in",
        }

    def _post_message(self, params: Mapping[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        message = self.add_message(channel, str(params.get("text", "")), user=self.bot_user_id)
        message["bot_id"] = self.bot_id
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def _post_ephemeral(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": new_ts()}

    def _history(self, params: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channels.get(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        latest = params.get("latest")
        inclusive = str(params.get("inclusive", "0")) in ("1", "true")
        limit = int(params.get("limit") or 100)
        top_level = [
            m
            for m in channel.messages.values()
            if "thread_ts" not in m or m["thread_ts"] == m["ts"]
        ]
        if latest is not None:
            bound = float(latest)
            top_level = [
                m
                for m in top_level
                if float(m["ts"]) < bound or (inclusive and float(m["ts"]) == bound)
            ]
        newest_first = sorted(top_level, key=lambda m: float(m["ts"]), reverse=True)
        return {
            "ok": True,
            "messages": newest_first[:limit],
            "has_more": len(newest_first) > limit,
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }

    def _replies(self, params: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channels.get(str(params.get("channel") or ""))
        ts = str(params.get("ts") or "")
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        message = channel.messages.get(ts)
        if message is None:
            return {"ok": False, "error": "thread_not_found"}
        root = str(message.get("thread_ts") or ts)
        thread = [
            m for m in channel.messages.values() if m.get("thread_ts") == root or m["ts"] == root
        ]
        thread.sort(key=lambda m: float(m["ts"]))
        return {"ok": True, "messages": thread, "has_more": False}

    def _users_info(self, params: Mapping[str, Any]) -> dict[str, Any]:
        user_id = str(params.get("user") or "")
        if not user_id:
            return {"ok": False, "error": "user_not_found"}
        user = self.users.get(user_id, {})
        return {
            "ok": True,
            "user": {
                "id": user_id,
                "team_id": self.team_id,
                "name": user.get("name", user_id.lower()),
                "real_name": user.get("real_name", user_id),
                "locale": user.get("locale", "en-US"),
                "is_bot": bool(user.get("is_bot", False)),
            },
        }

    # -- response_url -------------------------------------------------------------------------

    async def _response_url(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        fault = self._take_fault("response_url")
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            return web.Response(status=fault.status, text=fault.error, headers=headers)
        entry = self._response_urls.setdefault(token, _ResponseUrl(created=time.time()))
        if time.time() - entry.created > RESPONSE_URL_TTL:
            return web.Response(status=404, text="expired_url")
        if entry.uses >= RESPONSE_URL_USES:
            return web.Response(status=404, text="used_url")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return web.Response(status=400, text="no_text")
        entry.uses += 1
        url = f"{self.url}/response/{token}" if self.url else str(request.url)
        self.responses.append(ResponsePost(url, body, time.time()))
        return web.Response(text="ok")


_METHODS = {
    "auth.test": SlackStandin._auth_test,
    "chat.postMessage": SlackStandin._post_message,
    "chat.postEphemeral": SlackStandin._post_ephemeral,
    "conversations.history": SlackStandin._history,
    "conversations.replies": SlackStandin._replies,
    "users.info": SlackStandin._users_info,
}
