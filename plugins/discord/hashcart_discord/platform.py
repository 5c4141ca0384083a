"""The Discord platform: a cart reaction in, commands to the core, answers out by DM.

Discord does not redeliver a gateway event that a bot failed to handle, so this module tries
hard not to drop one: reactions by the same person on the same message are handled in arrival
order, a database outage is waited out for a while, and `stop()` closes the gateway first and
then lets the reactions already received finish before the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from typing import ClassVar

import aiohttp
import discord

from hashcart import (
    Action,
    CartCommand,
    Host,
    OutgoingReply,
    ProductRef,
    ReplyTarget,
    RetryLater,
    TrackedTasks,
    Unavailable,
    fault_point,
    retrying,
)
from hashcart_discord.cache import AsyncLru, Lru
from hashcart_discord.gateway import CartClient, point_at
from hashcart_discord.links import MessageReferences, message_references
from hashcart_discord.reactions import PLATFORM, Reaction, reaction_commands
from hashcart_discord.reconcile import Reconciler, SeenMessage, SeenMessages
from hashcart_discord.sender import DmSender
from hashcart_discord.settings import DiscordSettings
from hashcart_discord.slash import COMMANDS, commands_digest

log = logging.getLogger(__name__)

#: Long enough for discord.py to wait out one rate limit (it gives up past 30 s) and answer.
FETCH_DEADLINE = 40.0
#: How long a reaction waits for the database to come back before it is given up.
SUBMIT_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
#: How long `stop()` lets reactions already received finish.
DRAIN_SECONDS = 15.0
RECONNECT_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
STABLE_SECONDS = 300.0
#: REST lookups in flight at once: a burst of reactions should queue here, not open a
#: connection each (discord.py's connector has no limit).
LOOKUP_CONCURRENCY = 32
KV_COMMANDS = "discord.commands"
UNAVAILABLE_TEXT = "hashcart cannot reach its database just now; please try again in a minute."


class DiscordPlatform:
    name = PLATFORM
    commands: ClassVar[Mapping[Action, str | None]] = COMMANDS

    def __init__(self, host: Host, settings: DiscordSettings) -> None:
        assert settings.token is not None
        self._host = host
        self._settings = settings
        self._token = settings.token.get_secret_value().strip()
        self._emoji = settings.emoji_spec
        self._client: CartClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._sender: DmSender | None = None
        self._runner: asyncio.Task[None] | None = None
        self._handlers = TrackedTasks()
        self._order: dict[Hashable, tuple[asyncio.Lock, int]] = {}
        self._messages: AsyncLru[tuple[int, int], MessageReferences] = AsyncLru(
            self._fetch_references, size=1024
        )
        self._bots: AsyncLru[int, bool] = AsyncLru(self._fetch_is_bot, size=4096, ttl=3600)
        self._lookups = asyncio.Semaphore(LOOKUP_CONCURRENCY)
        self._stopping = False
        # When the last live reaction event for (message, user) arrived: catching up must not
        # undo what a newer live event did.
        self._last_live: Lru[tuple[int, int], float] = Lru(size=16_384, ttl=3600)
        self._seen = SeenMessages(host, settings.reconcile_minutes)
        self._reconciler = Reconciler(
            host, self._emoji, self._seen, self._apply_state, self._last_live
        )
        self._catching_up = TrackedTasks()

    async def start(self) -> None:
        point_at(self._settings.api_url, self._settings.gateway_url)
        self._session = aiohttp.ClientSession(timeout=self._host.http_timeout)
        self._sender = DmSender(self._session, self._settings.api_url, self._token, self._host.kv)
        self._stopping = False
        self._runner = asyncio.create_task(self._run(), name="hashcart-discord-gateway")

    async def stop(self) -> None:
        self._stopping = True
        await self._catching_up.drain(0)
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                await client.stop_listening()
        late = await self._handlers.drain(DRAIN_SECONDS)
        if late:
            log.error("discord: %d reactions were still in progress at shutdown", late)
        if client is not None:
            await client.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._session is not None:
            await self._session.close()

    async def send_reply(self, reply: OutgoingReply) -> None:
        if self._sender is None or self._session is None or self._session.closed:
            raise RetryLater("the Discord platform is not running", 5.0)  # stays queued
        await self._sender.send(reply)

    async def _run(self) -> None:
        """Keep a client connected; discord.py resumes dropped sockets, this covers the rest
        (Discord unreachable at start, a session it ended for good)."""
        failures = 0
        while not self._stopping:
            client = CartClient(
                self._on_reaction,
                self._on_slash,
                self._sync_commands,
                self._on_identified,
                self._settings.shard_plan,
            )
            self._client = client
            began = time.monotonic()
            try:
                await client.open(self._token)
            except discord.LoginFailure:
                return self._fatal("Discord refused HASHCART_DISCORD_TOKEN")
            except discord.PrivilegedIntentsRequired:
                return self._fatal("Discord refused the gateway intents")
            except discord.ConnectionClosed as exc:
                if exc.code in (4004, 4013, 4014):
                    return self._fatal(f"Discord closed the gateway for good ({exc.code})")
                log.warning("discord: gateway closed (%s)", exc)
            except (OSError, TimeoutError, aiohttp.ClientError, discord.DiscordException) as exc:
                log.warning("discord: cannot reach Discord (%s)", exc)
            if self._stopping:
                return
            with contextlib.suppress(Exception):
                await client.close()
            self._host.count_platform_error(PLATFORM, "gateway")
            if time.monotonic() - began > STABLE_SECONDS:
                failures = 0  # it ran well for a while: start the backoff afresh
            delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
            failures += 1
            log.warning("discord: connecting again in %.0f s", delay)
            await asyncio.sleep(delay)

    def _fatal(self, message: str) -> None:
        """Retrying cannot fix this; say so once and leave the rest of hashcart running."""
        self._host.count_platform_error(PLATFORM, "fatal")
        log.error("discord: %s; the Discord platform is off", message)

    async def _sync_commands(self, client: CartClient) -> None:
        """Register `/cart` with Discord when its definition changed since the last sync."""
        digest = commands_digest(client.tree)
        key = str(client.application_id)
        try:
            if await self._host.kv.get(KV_COMMANDS, key) == digest:
                return
            await client.tree.sync()
            await self._host.kv.put(KV_COMMANDS, key, digest)
        except Exception as exc:  # reactions work without it: carry on
            self._host.count_platform_error(PLATFORM, "command_sync")
            log.warning("discord: could not register /cart: %s", exc)

    async def _on_slash(
        self, interaction: discord.Interaction, action: Action, argument: str | None
    ) -> None:
        self._handlers.track()
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            user = interaction.user
            extra = {
                "interaction_token": interaction.token,
                "application_id": str(interaction.application_id),
            }
            if interaction.guild_id is not None:
                extra["guild_id"] = str(interaction.guild_id)
            command = CartCommand(
                platform=PLATFORM,
                user_id=str(user.id),
                action=action,
                event_id=f"interaction:{interaction.id}",
                reply_to=ReplyTarget(
                    platform=PLATFORM,
                    user=str(user.id),
                    channel=str(interaction.channel_id),
                    private=True,
                    extra=extra,
                ),
                argument=argument,
                user_name=user.display_name,
                locale=str(interaction.locale),
                is_bot=user.bot,
            )
            try:
                await self._submit(command)
            except Unavailable:
                await interaction.followup.send(UNAVAILABLE_TEXT, ephemeral=True)
        except Exception:
            self._host.count_platform_error(PLATFORM, "interaction")
            log.exception("discord: /cart from %s was not handled", interaction.user.id)

    async def _on_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        if not self._emoji.matches(payload.emoji.name, payload.emoji.id):
            return
        client = self._client
        if client is not None and client.user is not None and payload.user_id == client.user.id:
            return
        self._handlers.track()
        self._last_live.put((payload.message_id, payload.user_id), time.monotonic())
        try:
            # Taken before the first await: events arrive in order, and so do their effects.
            async with self._in_order((payload.message_id, payload.user_id)):
                seen = SeenMessage(payload.guild_id, payload.channel_id, payload.message_id)
                await self._seen.remember(seen)
                await fault_point("discord.reaction.received")
                member = payload.member
                if member is not None:
                    self._bots.put(payload.user_id, member.bot)
                removed = payload.event_type == "REACTION_REMOVE"
                name = member.display_name if member is not None else None
                await self._apply(seen, payload.user_id, removed, name)
        except Unavailable as exc:
            self._host.count_platform_error(PLATFORM, "lost")
            log.error("discord: reaction on message %s lost: %s", payload.message_id, exc)
        except Exception:
            self._host.count_platform_error(PLATFORM, "reaction")
            log.exception("discord: reaction on message %s was not handled", payload.message_id)

    async def _apply(
        self, seen: SeenMessage, user_id: int, removed: bool, user_name: str | None = None
    ) -> None:
        """One reaction added or taken back, live or found while catching up: its commands."""
        if await self._bots.get(user_id):
            return
        try:
            found = await self._messages.get((seen.channel_id, seen.message_id))
        except discord.NotFound:
            return  # deleted before we looked: nothing to add
        except discord.Forbidden:
            self._host.count_platform_error(PLATFORM, "message_forbidden")
            log.warning("discord: no access to message %s", seen.message_id)
            return
        reaction = Reaction(
            message_id=seen.message_id,
            channel_id=seen.channel_id,
            user_id=user_id,
            emoji_key=self._emoji.key,
            removed=removed,
            guild_id=seen.guild_id,
            user_name=user_name,
            locale=self._locale(seen.guild_id),
        )
        products = [(url, ref) for url, ref in await self._resolve(found.links) if ref is not None]
        barcodes = await self._resolve(found.barcodes) if not products else []
        # Submitted together, the commands of one reaction are applied in one group, so their
        # answers (one `reply_group`) go out as one DM listing every product.
        commands = reaction_commands(reaction, products, found.links, barcodes)
        await asyncio.gather(*(self._submit(command) for command in commands))

    async def _resolve(self, references: Sequence[str]) -> list[tuple[str, ProductRef | None]]:
        """Each reference with its product, None when it names none; two references to one
        product (two links, or a UPC-A and its EAN-13) count once."""
        found: list[tuple[str, ProductRef | None]] = []
        seen: set[str] = set()
        for reference in references:
            ref = await self._host.resolve_reference(reference)
            if ref is None or ref.product_id not in seen:
                found.append((reference, ref))
            if ref is not None:
                seen.add(ref.product_id)
        return found

    def _on_identified(self, shard_id: int) -> None:
        """A shard identified afresh (not resumed): Discord replays nothing to it, so compare
        the remembered messages with Discord in the background."""
        client = self._client
        if self._settings.reconcile_minutes <= 0 or client is None or self._stopping:
            return
        shard_count = client.shard_count or 1
        self._catching_up.spawn(
            self._catch_up(client, shard_id, shard_count),
            name=f"hashcart-discord-catch-up-{shard_id}",
        )

    async def _catch_up(self, client: CartClient, shard_id: int, shard_count: int) -> None:
        try:
            await self._reconciler.run(client, shard_id, shard_count)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._host.count_platform_error(PLATFORM, "reconcile")
            log.exception("discord: catching up on shard %s failed", shard_id)

    async def _apply_state(self, seen: SeenMessage, user_id: int, removed: bool) -> None:
        """What catching up found, in order with the user's live reactions on that message;
        it hands over people only, so no REST lookup asks whether each is a bot."""
        self._bots.put(user_id, False)
        async with self._in_order((seen.message_id, user_id)):
            await self._apply(seen, user_id, removed)

    def _locale(self, guild_id: int | None) -> str | None:
        guild = self._client.get_guild(guild_id) if self._client and guild_id else None
        return str(guild.preferred_locale) if guild is not None else None

    async def _submit(self, command: CartCommand) -> None:
        await retrying(lambda: self._host.submit(command), delays=SUBMIT_RETRY_DELAYS)

    async def _fetch_references(self, key: tuple[int, int]) -> MessageReferences:
        client = self._client
        assert client is not None
        channel_id, message_id = key
        async with self._lookups, asyncio.timeout(FETCH_DEADLINE):
            message = await client.http.get_message(channel_id, message_id)
        return message_references(message)

    async def _fetch_is_bot(self, user_id: int) -> bool:
        client = self._client
        assert client is not None
        cached = client.get_user(user_id)
        if cached is not None:
            return bool(cached.bot)
        async with self._lookups, asyncio.timeout(FETCH_DEADLINE):
            user = await client.fetch_user(user_id)
        return bool(user.bot)

    @contextlib.asynccontextmanager
    async def _in_order(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._order.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._order[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._order[key]
            if users == 1:
                del self._order[key]
            else:
                self._order[key] = (lock, users - 1)
