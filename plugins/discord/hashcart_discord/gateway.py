"""The discord.py client hashcart runs: only the intents it needs, pointed at the configured API.

discord.py keeps its REST base (`Route.BASE`) and its gateway address
(`DiscordWebSocket.DEFAULT_GATEWAY`) in class attributes, so pointing it elsewhere (a stand-in,
a proxy) is process-wide: one hashcart process talks to one Discord. After READY the client
follows the `resume_gateway_url` Discord hands out, as it must.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl

from hashcart_discord.settings import ShardPlan
from hashcart_discord.slash import SlashHandler, build_tree

ReactionHandler = Callable[[discord.RawReactionActionEvent], Awaitable[None]]
SetupHandler = Callable[["CartClient"], Awaitable[None]]
IdentifiedHandler = Callable[[int], None]


def point_at(api_url: str, gateway_url: str) -> None:
    discord.http.Route.BASE = api_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def needed_intents() -> discord.Intents:
    """Guilds (for locale and member data) and reactions in guilds and DMs; none privileged.

    Message Content is privileged and is not asked for on the gateway: the bot reads a message
    only when someone reacts to it, over REST. Discord still blanks the content of fetched guild
    messages unless the application has the Message Content intent switched on in the Developer
    Portal (`hashcart doctor` checks the flag) or the message mentions the bot.
    """
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_reactions = True
    intents.dm_reactions = True
    return intents


class CartClient(discord.AutoShardedClient):
    """An auto-sharded client that hands raw reaction events and `/cart` to hashcart and keeps
    no caches it does not need (no message cache, no member chunking)."""

    def __init__(
        self,
        on_reaction: ReactionHandler,
        on_slash: SlashHandler,
        on_setup: SetupHandler,
        on_identified: IdentifiedHandler,
        shards: ShardPlan | None,
        **options: Any,
    ) -> None:
        if shards is not None:
            options.update(shard_ids=list(shards.shard_ids), shard_count=shards.shard_count)
        super().__init__(
            intents=needed_intents(),
            max_messages=None,
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.none(),
            max_ratelimit_timeout=30.0,
            **options,
        )
        self._on_reaction = on_reaction
        self._on_setup = on_setup
        self._on_identified = on_identified
        self.tree = build_tree(self, on_slash)

    async def setup_hook(self) -> None:
        """After login, before the gateway: the moment to register application commands."""
        await self._on_setup(self)

    async def on_shard_ready(self, shard_id: int) -> None:
        """After a fresh IDENTIFY of the shard (a RESUME fires `on_shard_resumed` instead)."""
        self._on_identified(shard_id)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._on_reaction(payload)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._on_reaction(payload)

    async def open(self, token: str) -> None:
        """Log in and connect; without a shard plan, ask Discord how many shards to run up front,
        so the configured gateway URL stays in use rather than the one `/gateway/bot` names."""
        await self.login(token)
        if self.shard_count is None:
            count, _url, _limits = await self.http.get_bot_gateway()
            self.shard_count = count
        await self.connect(reconnect=True)

    async def stop_listening(self) -> None:
        """Close the gateway connections but keep REST usable for reactions in flight."""
        for shard in self.shards.values():
            await shard.disconnect()
