"""The Slack platform: a Bolt app behind hashcart's web server, and the way answers go out."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from hashcart import Action, Host, OutgoingReply, RetryLater, SendRefused, TrackedTasks
from hashcart_slack import envelope, replies
from hashcart_slack.bolt import build_app
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
        await replies.send(self, reply)

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

    async def post_response(self, response_url: str, body: Mapping[str, Any]) -> None:
        """POST a message to a `response_url`, failures sorted for the reply sender."""
        try:
            async with self._http().post(
                response_url, json=dict(body), timeout=self.hashcart.http_timeout
            ) as resp:
                if resp.status < 300:
                    return
                detail = (await resp.text())[:200]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(f"response_url: {type(exc).__name__}", 0.0) from exc
        raise replies.classify(resp.status, resp.headers, detail)
