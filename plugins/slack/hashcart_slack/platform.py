"""The Slack platform: a Bolt app behind hashcart's web server, and the way answers go out.

An answer goes to the command's `response_url`, with chat.postEphemeral, or into the
direct-message conversation a command came from. Failures are sorted for the core's reply
sender: busy or broken (429, 5xx, timeouts, connection errors) means `RetryLater`, honouring
Slack's `Retry-After`; anything else is a refusal for good.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from hashcart import (
    Action,
    Host,
    OutgoingReply,
    RetryLater,
    SendRefused,
    TrackedTasks,
    Verdict,
    classify_answer,
)
from hashcart_slack import envelope
from hashcart_slack.bolt import build_app
from hashcart_slack.commands import DIRECT, EPHEMERAL
from hashcart_slack.kv_cache import CachedKeyValue
from hashcart_slack.oauth import BOTS, INSTALLATIONS, KvInstallationStore
from hashcart_slack.parse import COMMANDS
from hashcart_slack.settings import SlackSettings

log = logging.getLogger(__name__)


#: Key-value namespace of configured bot tokens that Slack revoked (by SHA-256 digest).
REVOKED_TOKENS = "slack.revoked_tokens"

#: How long `stop()` waits for events still being applied after their answer went out.
DRAIN_SECONDS = 10.0


class SlackPlatform:
    """One Slack app: single-workspace (bot token) or multi-workspace (OAuth installations)."""

    name = "slack"
    commands: ClassVar[Mapping[Action, str | None]] = COMMANDS

    def __init__(self, hashcart: Host, settings: SlackSettings) -> None:
        self.hashcart = hashcart
        self.settings = settings
        self.tasks = TrackedTasks(failures="slack: work after ack")
        self._session: aiohttp.ClientSession | None = None
        self._timeout_seconds = max(1, math.ceil(hashcart.http_timeout.total or 10))
        token = settings.bot_token.get_secret_value() if settings.bot_token else None
        self.client = AsyncWebClient(
            token=None if settings.oauth else token,
            base_url=settings.api_url,
            timeout=self._timeout_seconds,
        )
        # Tokens and revocations are read on every request and every answer; see `kv_cache`.
        self.kv = CachedKeyValue(hashcart.kv, frozenset({INSTALLATIONS, BOTS, REVOKED_TOKENS}))
        self.installations = KvInstallationStore(self.kv) if settings.oauth else None
        self._token_digest = hashlib.sha256(token.encode()).hexdigest() if token else None
        self.bolt: AsyncApp = build_app(self)

    async def start(self) -> None:
        self._http()

    async def stop(self) -> None:
        """Finish the events still being applied: late ones were answered 503 and will come
        again, but one that lands now spares Slack the retry."""
        late = await self.tasks.drain(DRAIN_SECONDS)
        if late:
            log.error("slack: %d acknowledged commands were still running at stop", late)
        if self._session is not None:
            await self._session.close()
            self._session = None
            self.client.session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.hashcart.http_timeout)
            self.client.session = self._session
        return self._session

    async def handle(self, request: web.Request) -> web.Response:
        """Slack → Bolt: signature, url_verification and ack are Bolt's; listeners are ours."""
        secret = self.settings.signing_secret
        refused = await envelope.refusal(request, secret.get_secret_value() if secret else "")
        if refused is not None:
            return refused
        self._http()
        bolt_response = await self.bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def handle_install(self, request: web.Request) -> web.Response:
        flow = self.bolt.oauth_flow
        if flow is None:
            raise web.HTTPNotFound()
        return await to_aiohttp_response(
            await flow.handle_installation(await to_bolt_request(request))
        )

    async def handle_oauth_redirect(self, request: web.Request) -> web.Response:
        flow = self.bolt.oauth_flow
        if flow is None:
            raise web.HTTPNotFound()
        self._http()
        return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

    async def send_reply(self, reply: OutgoingReply) -> None:
        target = reply.target
        blocks = reply.content.extra.get("blocks")
        if target.extra.get("mode") in (EPHEMERAL, DIRECT):
            await self._post(reply, {"blocks": blocks} if blocks else {})
            return
        team_id, enterprise_id = target.extra.get("team_id"), target.extra.get("enterprise_id")
        if await self.workspace_gone(team_id, enterprise_id):  # the others ask for its token
            raise SendRefused(f"workspace {team_id} uninstalled the app")
        if not target.channel:
            raise SendRefused("no response_url to answer to")
        body: dict[str, Any] = {"response_type": "ephemeral", "text": reply.content.text}
        if blocks:
            body["blocks"] = blocks
        await self._post_response(target.channel, body)

    async def _post(self, reply: OutgoingReply, kwargs: dict[str, Any]) -> None:
        """An ephemeral message in the channel, or a plain one in the direct-message
        conversation a command came from."""
        target = reply.target
        if not target.channel:
            raise SendRefused("no channel to answer in")
        client = await self.client_for(
            target.extra.get("team_id"), target.extra.get("enterprise_id")
        )
        post: Callable[..., Awaitable[Any]]
        if target.extra.get("mode") == DIRECT:
            method, post = "chat.postMessage", client.chat_postMessage
        else:
            method, post = "chat.postEphemeral", client.chat_postEphemeral
            kwargs["user"] = target.user
            if target.extra.get("thread_ts"):
                kwargs["thread_ts"] = target.extra["thread_ts"]
        try:
            await post(channel=target.channel, text=reply.content.text, **kwargs)
        except SlackApiError as exc:
            response = exc.response
            raise classify(response.status_code, response.headers, response.get("error")) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(f"{method}: {type(exc).__name__}", 0.0) from exc

    async def forget_token(self) -> None:
        """Single-workspace mode: the workspace uninstalled the app or revoked its bot token.

        The token comes from the configuration, so it is remembered as dead (by digest, on
        every node) instead of deleted; configuring the new token of a reinstall undoes it.
        """
        if self._token_digest is not None:
            await self.kv.put(REVOKED_TOKENS, self._token_digest, True)

    async def workspace_gone(self, team_id: str | None, enterprise_id: str | None = None) -> bool:
        """Whether the workspace uninstalled the app: nothing is sent there any more."""
        if self.installations is None:
            if self._token_digest is None:
                return False
            return await self.kv.get(REVOKED_TOKENS, self._token_digest) is not None
        bot = await self.installations.async_find_bot(
            enterprise_id=enterprise_id or None, team_id=team_id or None
        )
        return bot is None or not bot.bot_token

    async def client_for(
        self, team_id: str | None, enterprise_id: str | None = None
    ) -> AsyncWebClient:
        """A Web API client holding the bot token of the workspace the command came from."""
        self._http()
        if self.installations is None:
            if await self.workspace_gone(team_id, enterprise_id):
                raise SendRefused(f"workspace {team_id} uninstalled the app")
            return self.client
        bot = await self.installations.async_find_bot(
            enterprise_id=enterprise_id or None, team_id=team_id or None
        )
        if bot is None or not bot.bot_token:
            raise SendRefused(f"no installation for workspace {team_id}")
        return AsyncWebClient(
            token=bot.bot_token,
            base_url=self.settings.api_url,
            timeout=self._timeout_seconds,
            session=self._http(),
        )

    async def _post_response(self, response_url: str, body: Mapping[str, Any]) -> None:
        try:
            async with self._http().post(
                response_url, json=dict(body), timeout=self.hashcart.http_timeout
            ) as resp:
                if resp.status < 300:
                    return
                detail = (await resp.text())[:200]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(f"response_url: {type(exc).__name__}", 0.0) from exc
        raise classify(resp.status, resp.headers, detail)


def classify(status: int, headers: Any, error: object) -> RetryLater | SendRefused:
    """The reply sender's verdict on a failed Slack call (an `ok: false` 200 is refused too).

    A 429 without a readable `Retry-After` waits one second; a 5xx gets no hint from Slack, so
    the sender's own backoff applies.
    """
    reason = f"slack answered {status}: {error}"
    answer = classify_answer(status, headers)
    if answer.verdict is not Verdict.RETRY:
        return SendRefused(reason)
    if status == 429:
        return answer.send_error(reason, default_wait=1.0)
    return RetryLater(reason, 0.0)
