"""The Discord stand-in's gateway: sessions, dispatched events, resumes, commands used."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import WSMsgType, web

from hashcart_discord.testing import wire
from hashcart_discord.testing.base import DiscordStandinBase
from hashcart_discord.testing.commands import check_command_use
from hashcart_discord.testing.models import (
    Channel,
    CustomEmoji,
    Interaction,
    Message,
    User,
    _Session,
)


class _Gateway(DiscordStandinBase):
    """The Discord stand-in's gateway: sessions, dispatched events, resumes, commands used."""

    async def react(
        self, user: User, message: Message, emoji: str | CustomEmoji = "🛒", *, remove: bool = False
    ) -> bool:
        """The user adds (or removes) a reaction; False when that changes nothing on Discord."""
        key = str(emoji.id) if isinstance(emoji, CustomEmoji) else emoji
        reaction = (user.id, key)
        if remove != (reaction in message.reactions):
            return False
        if remove:
            message.reactions.discard(reaction)
        else:
            message.reactions.add(reaction)
        await self.dispatch_reaction(user, message, emoji, remove=remove)
        return True

    async def dispatch_reaction(
        self, user: User, message: Message, emoji: str | CustomEmoji = "🛒", *, remove: bool = False
    ) -> None:
        """Send a MESSAGE_REACTION_ADD/REMOVE whether or not it repeats an earlier one."""
        if isinstance(emoji, CustomEmoji):
            emoji_json: dict[str, Any] = {"id": str(emoji.id), "name": emoji.name}
            if emoji.animated:
                emoji_json["animated"] = True
        else:
            emoji_json = {"id": None, "name": emoji}
        guild_id = message.channel.guild_id
        data: dict[str, Any] = {
            "user_id": str(user.id),
            "channel_id": str(message.channel.id),
            "message_id": str(message.id),
            "emoji": emoji_json,
            "burst": False,
            "type": 0,
        }
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        if not remove:
            data["message_author_id"] = str(message.author.id)
            data["burst_colors"] = []
            if guild_id is not None:
                data["member"] = user.member_json()
        event = "MESSAGE_REACTION_REMOVE" if remove else "MESSAGE_REACTION_ADD"
        await self.dispatch(event, data, guild_id=guild_id)

    async def dispatch(self, event: str, data: Mapping[str, Any], *, guild_id: int | None) -> int:
        """Send any dispatch to the sessions whose shard owns `guild_id`; returns how many."""
        targets = [s for s in self._sessions.values() if not s.invalid and s.handles(guild_id)]
        for session in targets:
            await session.dispatch(event, data)
        return len(targets)

    async def use_command(
        self,
        user: User,
        channel: Channel,
        command: str,
        subcommand: str | None = None,
        **options: str | int | bool,
    ) -> Interaction:
        """The user runs `/command subcommand option:value` in a channel (INTERACTION_CREATE).

        Once the bot registered `command`, the use must fit its definition (`ValueError` if not).
        """
        registered = next((c for c in self.commands if c["name"] == command), None)
        if registered is not None:
            check_command_use(registered, subcommand, options)
        interaction = Interaction(
            id=self.new_id(),
            token=hashlib.sha1(str(self.new_id()).encode()).hexdigest(),
            user=user,
            channel=channel,
        )
        self.interactions[interaction.id] = interaction
        typed = [
            {
                "type": 5 if isinstance(v, bool) else 4 if isinstance(v, int) else 3,
                "name": k,
                "value": v,
            }
            for k, v in options.items()
        ]
        option_list = [{"type": 1, "name": subcommand, "options": typed}] if subcommand else typed
        data: dict[str, Any] = {
            "id": str(interaction.id),
            "application_id": str(self.bot.id),
            "type": 2,
            "token": interaction.token,
            "version": 1,
            "attachment_size_limit": 8 * 1024 * 1024,
            "channel_id": str(channel.id),
            "channel": channel.to_json(),
            "locale": "en-US",
            "app_permissions": "0",
            "entitlements": [],
            "data": {
                "id": registered["id"] if registered else str(self.new_id()),
                "name": command,
                "type": 1,
                "options": option_list,
            },
        }
        if channel.guild_id is not None:
            guild = self.guilds[channel.guild_id]
            data.update(
                guild_id=str(guild.id),
                guild_locale=guild.preferred_locale,
                context=0,
                authorizing_integration_owners={"0": str(guild.id)},
                member={**user.member_json(), "permissions": "0"},
            )
        else:
            data.update(user=user.to_json(), context=1)
        await self.dispatch("INTERACTION_CREATE", data, guild_id=channel.guild_id)
        return interaction

    def sessions(self, *, connected: bool = True) -> list[dict[str, Any]]:
        """The live gateway sessions: id, shard, last sequence number, whether a socket is open."""
        return [
            {"id": s.id, "shard": s.shard, "seq": s.seq, "connected": s.connected}
            for s in self._sessions.values()
            if not s.invalid and (s.connected or not connected)
        ]

    async def wait_connected(self, count: int = 1, *, within: float = 10.0) -> None:
        """Wait until `count` sessions are connected (identified or resumed)."""
        deadline = time.monotonic() + within
        while len(self.sessions()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.sessions())} of {count} gateway sessions connected")
            await asyncio.sleep(0.01)

    async def drop_connections(self, *, code: int = 4000, replay_overlap: int = 0) -> int:
        """Close every gateway socket as a network failure would; sessions stay resumable.

        `replay_overlap` makes the next RESUME also replay that many events the client had
        already seen, as Discord may after a flaky connection: a bot must not apply them twice.
        """
        dropped = 0
        for session in list(self._sessions.values()):
            socket = session.socket
            if socket is None or socket.closed:
                continue
            async with session.lock:
                session.replay_overlap = replay_overlap
                session.socket = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(code=code), timeout=2)
            dropped += 1
        return dropped

    def invalidate_sessions(self) -> None:
        """Forget every session: the next RESUME is answered with INVALID_SESSION(false)."""
        for session in self._sessions.values():
            session.invalid = True

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(max_msg_size=4 * 1024 * 1024)
        await socket.prepare(request)
        await socket.send_json({"op": wire.OP_HELLO, "d": {"heartbeat_interval": 41_250}})
        session: _Session | None = None
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(frame.data)
                    op = payload["op"]
                except (ValueError, KeyError, TypeError):
                    await socket.close(code=4002, message=b"Decode error")
                    break
                if op == wire.OP_HEARTBEAT:
                    await socket.send_json({"op": wire.OP_HEARTBEAT_ACK})
                elif op == wire.OP_IDENTIFY and session is None:
                    session = await self._identify(socket, payload.get("d") or {})
                elif op == wire.OP_RESUME and session is None:
                    session = await self._resume(socket, payload.get("d") or {})
        finally:
            if session is not None and session.socket is socket:
                session.socket = None
                if socket.close_code == 1000:
                    session.invalid = True  # a clean close from the bot ends the session
        return socket

    async def _identify(
        self, socket: web.WebSocketResponse, data: Mapping[str, Any]
    ) -> _Session | None:
        intents = int(data.get("intents") or 0)
        shard_data = data.get("shard")
        shard = (int(shard_data[0]), int(shard_data[1])) if shard_data else None
        self.identifies.append({"shard": shard, "intents": intents, "at": time.monotonic()})
        if data.get("token") != self.token:
            await socket.close(
                code=wire.CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed."
            )
            return None
        if shard is not None and not 0 <= shard[0] < shard[1]:
            await socket.close(code=wire.CLOSE_INVALID_SHARD, message=b"Invalid shard.")
            return None
        granted = wire.INTENT_MESSAGE_CONTENT if self.message_content else 0
        if intents & wire.PRIVILEGED_INTENTS & ~granted:
            await socket.close(code=wire.CLOSE_DISALLOWED_INTENTS, message=b"Disallowed intent(s).")
            return None
        for old in self._sessions.values():
            if old.shard == shard:
                old.invalid = True
        session_id = hashlib.sha1(str(self.new_id()).encode()).hexdigest()
        session = _Session(id=session_id, shard=shard, intents=intents)
        mine = [g for g in self.guilds.values() if session.handles(g.id)]
        async with session.lock:
            session.socket = socket
            self._sessions[session.id] = session
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.bot.to_json(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in mine],
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "application": {
                "id": str(self.bot.id),
                "flags": wire.APP_FLAG_GATEWAY_MESSAGE_CONTENT if self.message_content else 0,
            },
            "private_channels": [],
            "relationships": [],
        }
        if shard is not None:
            ready["shard"] = list(shard)
        await session.dispatch("READY", ready)
        for guild in mine:
            await session.dispatch("GUILD_CREATE", guild.to_json())
        return session

    async def _resume(
        self, socket: web.WebSocketResponse, data: Mapping[str, Any]
    ) -> _Session | None:
        session = self._sessions.get(str(data.get("session_id")))
        client_seq = data.get("seq")
        record: dict[str, Any] = {"session_id": data.get("session_id"), "seq": client_seq}
        self.resumes.append(record)
        if data.get("token") != self.token:
            await socket.close(
                code=wire.CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed."
            )
            return None
        oldest = session.log[0][0] if session is not None and session.log else 0
        if (
            session is None
            or session.invalid
            or not isinstance(client_seq, int)
            or client_seq < oldest - 1
        ):
            await socket.send_json({"op": wire.OP_INVALID_SESSION, "d": False})
            return None
        record["replayed"] = await session.resume(socket, client_seq)
        return session
