"""The Slack stand-in's state: life cycle, the workspace (messages, response URLs, faults) and
the deliveries it signs and sends to an app; `SlackStandin` adds its Web API."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hashcart.testing.standins import LocalServer
from hashcart.testing.standins.oauth2 import AuthorizationServer
from hashcart_slack.settings import BOT_SCOPES
from hashcart_slack.testing.payloads import (
    _ids,
    app_uninstalled_event,
    event_callback,
    new_event_id,
    new_trigger_id,
    new_ts,
    signed_headers,
    slash_command_form,
    tokens_revoked_event,
)

#: Slack lets a response_url be used this many times, for this long.
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60


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


class SlackStandinBase(LocalServer):
    """What every part of the stand-in shares."""

    delivery_timeout = 10.0

    def __init__(self, *, team_id: str = "T0001") -> None:
        self.signing_secret = "standin-signing-secret"
        self.bot_token = "xoxb-standin-token"
        self.team_id = team_id
        self.bot_user_id = "U0BOT"
        self.bot_id = "B0BOT"
        #: Scopes auth.test reports in `X-OAuth-Scopes`, as Slack does for the token's grant.
        self.scopes: list[str] = list(BOT_SCOPES)
        self.calls: list[ApiCall] = []
        self.responses: list[ResponsePost] = []
        self.users: dict[str, dict[str, Any]] = {}
        #: Each channel's messages by `ts`.
        self._channels: dict[str, dict[str, dict[str, Any]]] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self.client_id = "standin-client-id"
        self.client_secret = "standin-client-secret"
        #: Valid bot tokens and the workspace each belongs to; OAuth installs add more.
        self.tokens: dict[str, str] = {self.bot_token: team_id}
        #: One-time install codes and the workspace each installs into.
        self._oauth_codes: dict[str, str] = {}
        #: "Sign in with Slack" (OpenID Connect); `signin_as(...)` says who is signed in.
        self.openid: AuthorizationServer[dict[str, str]] = AuthorizationServer(
            client_id=self.client_id,
            client_secret=self.client_secret,
            required_scopes=("openid",),
            require_pkce=False,
        )
        self.app = self.make_app()

    def plugin_env(self) -> dict[str, str]:
        """The settings that point the Slack plugin here."""
        return {
            "HASHCART_SLACK_SIGNING_SECRET": self.signing_secret,
            "HASHCART_SLACK_BOT_TOKEN": self.bot_token,
            "HASHCART_SLACK_API_URL": self.api_url,
        }

    @property
    def api_url(self) -> str:
        """The value for `HASHCART_SLACK_API_URL` (slack_sdk appends the method name)."""
        return f"{self.url}/api/"

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
        self._channels.setdefault(channel, {})[stamp] = message
        return message

    def oauth_code(self, team_id: str) -> str:
        """A one-time code, as Slack hands to the app's redirect URL when a workspace installs."""
        code = secrets.token_hex(10)
        self._oauth_codes[code] = team_id
        return code

    def signin_as(self, user_id: str | None, *, name: str | None = None) -> None:
        """Who the next "Sign in with Slack" authorizes, in this workspace (None: nobody)."""
        person = None if user_id is None else {"user_id": user_id, "name": name or user_id.lower()}
        self.openid.user = person

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
        session = self.delivery_session()
        async with session.post(target_url, data=body, headers=headers) as resp:
            text = await resp.text()
            return Delivery(resp.status, text, dict(resp.headers))

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
        return replace(delivery, response_url=url, trigger_id=trigger)

    async def send_event(
        self,
        target_url: str,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        team_id: str | None = None,
    ) -> Delivery:
        """Deliver one Events API `event_callback`; reuse `event_id` to play a retry."""
        eid = event_id or new_event_id()
        if event.get("type") == "message" and "ts" in event and not event.get("subtype"):
            channel = str(event.get("channel", ""))
            stored = {k: v for k, v in event.items() if k not in ("channel", "event_ts")}
            self._channels.setdefault(channel, {})[str(event["ts"])] = stored
        body = event_callback(
            event, event_id=eid, team_id=team_id or self.team_id, bot_user_id=self.bot_user_id
        )
        delivery = await self.deliver(
            target_url, body, content_type="application/json", retry_num=retry_num
        )
        return replace(delivery, event_id=eid)

    async def uninstall(self, target_url: str, team_id: str | None = None) -> Delivery:
        """A workspace removes the app: its bot tokens stop working, then `app_uninstalled`."""
        return await self._take_away(target_url, team_id, app_uninstalled_event())

    async def revoke_bot_token(self, target_url: str, team_id: str | None = None) -> Delivery:
        """A workspace admin revokes the bot's token: it stops working, then `tokens_revoked`."""
        event = tokens_revoked_event(bot=[self.bot_user_id])
        return await self._take_away(target_url, team_id, event)

    async def _take_away(
        self, target_url: str, team_id: str | None, event: dict[str, Any]
    ) -> Delivery:
        team = team_id or self.team_id
        for token in [t for t, owner in self.tokens.items() if owner == team]:
            del self.tokens[token]
        return await self.send_event(target_url, event, team_id=team)
