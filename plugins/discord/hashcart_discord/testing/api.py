"""The Discord stand-in's REST API under `/api/v10`, as discord.py calls it."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from hashcart.testing.standins.oauth2 import OAuthError
from hashcart_discord.testing.base import DiscordStandinBase
from hashcart_discord.testing.commands import _form_error, command_problems
from hashcart_discord.testing.models import Channel, Interaction, Message, SentMessage
from hashcart_discord.testing.wire import APP_FLAG_GATEWAY_MESSAGE_CONTENT, _error, _json


class _RestApi(DiscordStandinBase):
    """The Discord stand-in's REST API under `/api/v10`, as discord.py calls it."""

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
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

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
