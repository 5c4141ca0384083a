"""Answers go out as DMs over Discord's REST API, with Discord's refusals mapped for the outbox.

This talks to the API with aiohttp rather than through discord.py's HTTP client on purpose:
discord.py sleeps through a 429 and retries a 5xx itself, which would hide them from hashcart's
outbox. Here a 429 becomes `RetryLater(retry_after)` and the outbox schedules the retry, so a
rate-limited reply neither blocks a worker nor gets lost across a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import aiohttp

from hashcart import KeyValue, OutgoingReply, RetryLater, SendRefused, retry_after
from hashcart_discord.cache import AsyncLru

log = logging.getLogger(__name__)

#: Discord's JSON error code for "Cannot send messages to this user" (DMs closed, blocked).
CANNOT_DM_USER = 50007
#: "Unknown Webhook": an interaction token that expired (after 15 minutes) or never existed.
UNKNOWN_WEBHOOK = 10015
MAX_CONTENT = 2000
#: One "open your DMs" notice per user and channel in this window, not one per reply.
DM_CLOSED_NOTICE_TTL = 600.0
KV_NAMESPACE = "discord.dm-closed-notice"


class DiscordRefusal(Exception):
    """A 4xx from Discord that retrying will not fix."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} (code {code}): {message}")
        self.status = status
        self.code = code


def nonce_for(reply: OutgoingReply, purpose: str = "dm") -> str:
    """Discord drops a second message with the same nonce (`enforce_nonce`): if a send timed
    out after Discord accepted it, the retry does not post it twice. At most 25 characters."""
    digest = hashlib.sha1(f"{reply.event_key}|{reply.reply_id}|{purpose}".encode()).hexdigest()
    return "hc" + digest[:22]


def closed_dms_notice(user_id: str) -> str:
    """Said in public, so it names no product: what someone buys is their business."""
    return f"<@{user_id}> I couldn't DM you — open your DMs to see your cart updates."


class DmSender:
    def __init__(
        self, session: aiohttp.ClientSession, api_url: str, token: str, kv: KeyValue
    ) -> None:
        self._session = session
        self._api_url = api_url.rstrip("/")
        self._headers = {"Authorization": f"Bot {token}", "User-Agent": "hashcart (discord)"}
        self._kv = kv
        self._dm_channels: AsyncLru[str, str] = AsyncLru(self._open_dm, size=4096, ttl=3600)
        self._notice_lock = asyncio.Lock()

    async def send(self, reply: OutgoingReply) -> None:
        token = reply.target.extra.get("interaction_token")
        application = reply.target.extra.get("application_id")
        if token and application:
            try:
                await self._answer_interaction(application, token, reply)
                return
            except DiscordRefusal as refusal:
                if refusal.code != UNKNOWN_WEBHOOK:
                    raise SendRefused(f"Discord refused the answer: {refusal}") from refusal
                # The token expired while the answer waited (an outage, retries): DM instead.
        await self._send_dm(reply)

    async def _answer_interaction(self, application: str, token: str, reply: OutgoingReply) -> None:
        """Replace the private "thinking…" response of a `/cart` command with the answer."""
        body = {"content": reply.content.text[:MAX_CONTENT], "allowed_mentions": {"parse": []}}
        path = f"/webhooks/{application}/{token}/messages/@original"
        await self._call("PATCH", path, body, authorised=False)

    async def _send_dm(self, reply: OutgoingReply) -> None:
        user = reply.target.user
        body = {
            "content": reply.content.text[:MAX_CONTENT],
            "allowed_mentions": {"parse": []},
            "nonce": nonce_for(reply),
            "enforce_nonce": True,
        }
        try:
            channel_id = await self._dm_channels.get(user)
            await self._call("POST", f"/channels/{channel_id}/messages", body)
        except DiscordRefusal as refusal:
            if refusal.code == CANNOT_DM_USER:
                await self._notice_in_channel(reply)
                return
            raise SendRefused(f"Discord refused the DM: {refusal}") from refusal

    async def _open_dm(self, user_id: str) -> str:
        data = await self._call("POST", "/users/@me/channels", {"recipient_id": user_id})
        return str(data["id"])

    async def _notice_in_channel(self, reply: OutgoingReply) -> None:
        user, channel = reply.target.user, reply.target.channel
        if not channel:
            raise SendRefused("the user's DMs are closed and there is no channel to say so")
        key = f"{user}:{channel}"
        async with self._notice_lock:
            if await self._kv.get(KV_NAMESPACE, key):
                raise SendRefused(
                    "the user's DMs are closed; they were already told in the channel"
                )
            body: dict[str, Any] = {
                "content": closed_dms_notice(user),
                "allowed_mentions": {"users": [user]},
                "nonce": nonce_for(reply, "closed-dms"),
                "enforce_nonce": True,
            }
            try:
                await self._call("POST", f"/channels/{channel}/messages", body)
            except DiscordRefusal as refusal:
                raise SendRefused(f"DMs closed and the channel refused too: {refusal}") from refusal
            await self._kv.put(KV_NAMESPACE, key, True, ttl=DM_CLOSED_NOTICE_TTL)

    async def _call(
        self, method: str, path: str, body: dict[str, Any], *, authorised: bool = True
    ) -> dict[str, Any]:
        """`authorised=False` for interaction webhooks: their token is in the path, and Discord
        wants no bot token with them."""
        url = self._api_url + path
        headers = self._headers if authorised else {"User-Agent": self._headers["User-Agent"]}
        try:
            async with self._session.request(method, url, json=body, headers=headers) as response:
                data = await _json_body(response)
                status = response.status
                asked = retry_after(response.headers)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RetryLater(f"Discord {method} {path}: {type(exc).__name__} {exc}") from exc
        if status == 429:
            # Discord says it in the body too, with milliseconds; the header is whole seconds.
            wait = _float(data.get("retry_after"), 1.0 if asked is None else asked)
            raise RetryLater(f"Discord rate limit on {method} {path}", wait)
        if status >= 500:
            raise RetryLater(f"Discord {method} {path} answered {status}")
        if status >= 400:
            raise DiscordRefusal(status, int(data.get("code") or 0), str(data.get("message", "")))
        return data


async def _json_body(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        data = await response.json(content_type=None)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default
