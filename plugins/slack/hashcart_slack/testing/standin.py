"""A local Slack: the Web API, `response_url` endpoints, and signed deliveries to an app."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

from hashcart.testing.standins.oauth2 import OAuthError
from hashcart_slack.testing.base import (
    RESPONSE_URL_TTL,
    RESPONSE_URL_USES,
    ApiCall,
    ResponsePost,
    SlackStandinBase,
    _Fault,
    _ResponseUrl,
)
from hashcart_slack.testing.payloads import message_event, new_event_id, new_trigger_id, new_ts


class SlackStandin(SlackStandinBase):
    """A Slack workspace on 127.0.0.1 for tests, the playground and plugin authors.

    It speaks Slack's wire format (docs/wire-formats.md) closely enough that the real `slack_sdk`
    client and Bolt app accept it: JSON bodies with `{"ok": ...}`, 429 with an integer
    `Retry-After`, v0 request signatures. Faults are injected per Web API method (or
    `"response_url"`) with `fail(...)` and are used up one call at a time, so a test can check
    that a 429 is retried and that the retry succeeds.

    `start()` serves it on a port of its own. To mount `app` inside another server instead (the
    playground does), set `url` to the base URL it is reachable at, so `api_url` and new
    response URLs point there.

        async with SlackStandin() as slack:
            delivery = await slack.slash_command(f"{app_url}/slack/events", "add <https://...>")
            await eventually(lambda: slack.responses_to(delivery.response_url))
    """

    platform = "slack"
    #: The payload builders, for code that gets the stand-in through `hashcart_standins`.
    new_trigger_id = staticmethod(new_trigger_id)
    new_event_id = staticmethod(new_event_id)
    message_event = staticmethod(message_event)

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{token:.+}", self._response_url)
        app.router.add_get("/openid/connect/authorize", self.openid.authorize)
        return app

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
        if token not in self.tokens:
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
        team_id = self._oauth_codes.pop(str(params.get("code") or ""), None)
        if team_id is None:
            return {"ok": False, "error": "invalid_code"}
        token = f"xoxb-{team_id.lower()}-{secrets.token_hex(8)}"
        self.tokens[token] = team_id
        return {
            "ok": True,
            "app_id": "A0HASHCART",
            "authed_user": {"id": "U0INSTALLER"},
            "scope": ",".join(self.scopes),
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": self.bot_user_id,
            "team": {"id": team_id, "name": "Other team"},
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
        top_level = [m for m in channel.values() if m.get("thread_ts", m["ts"]) == m["ts"]]
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
        message = channel.get(ts)
        if message is None:
            return {"ok": False, "error": "thread_not_found"}
        root = str(message.get("thread_ts") or ts)
        thread = [m for m in channel.values() if m.get("thread_ts") == root or m["ts"] == root]
        thread.sort(key=lambda m: float(m["ts"]))
        return {"ok": True, "messages": thread, "has_more": False}

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
}
