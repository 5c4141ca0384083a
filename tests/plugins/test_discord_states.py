"""A cart reaction is a state, and a new process catches up on what it missed.

The real discord.py client inside hashcart, against the stand-in: removing 🛒 and adding it again
adds again, a replayed add or remove changes nothing, and after a fresh IDENTIFY (Discord replays
nothing to a new session) the reactions added or taken back while no process listened are read
over REST, page by page and within Discord's rate limits, and applied once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

import hashcart_discord
from hashcart.testing import RunningHashcart, eventually, running_hashcart
from hashcart_discord.testing import DiscordStandin, Message, User

ECHO = "amazon:B00X4WHP5E"
ECHO_URL = "https://www.amazon.com/dp/B00X4WHP5E"
KINDLE = "amazon:B07FQ4DJ7X"
KINDLE_URL = "https://www.amazon.com/dp/B07FQ4DJ7X"
SENTINEL = "amazon:B000000000"
SENTINEL_URL = "https://www.amazon.com/dp/B000000000"
REACTIONS_PATH = r"^/channels/\d+/messages/\d+/reactions/"


@pytest.fixture
async def discord() -> AsyncIterator[DiscordStandin]:
    async with DiscordStandin() as standin:
        yield standin


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'hashcart.db'}"


@contextlib.asynccontextmanager
async def bot(
    standin: DiscordStandin, database_url: str, **env: str
) -> AsyncIterator[RunningHashcart]:
    """hashcart with the Discord plugin on `database_url`, which outlives one run."""
    settings = {**standin.env, **{f"HASHCART_DISCORD_{k.upper()}": v for k, v in env.items()}}
    async with running_hashcart(
        plugins=[hashcart_discord], env=settings, database_url=database_url
    ) as hc:
        for product_id, title in ((ECHO, "Echo Dot"), (KINDLE, "Kindle"), (SENTINEL, "Sentinel")):
            await hc.add_product(product_id, title=title, price_cents=4999)
        await standin.wait_connected()
        yield hc


async def quantities(hc: RunningHashcart, user: User) -> dict[str, int]:
    cart = await hc.cart("discord", str(user.id)) or []
    return {line["product_id"]: line["quantity"] for line in cart}


async def settled(hc: RunningHashcart) -> bool:
    return all(row["status"] != "pending" for row in await hc.outbox())


async def sentinel(discord: DiscordStandin, hc: RunningHashcart, user: User) -> None:
    """React to a fresh message and wait for its effect. Events on other messages may still be
    in hand (each message's reactions are ordered, different messages' are not)."""
    channel = next(iter(discord.channels.values()))
    message = discord.post_message(channel, user, f"sentinel {SENTINEL_URL}")
    await discord.react(user, message)

    async def arrived() -> bool:
        return SENTINEL in await quantities(hc, user)

    await eventually(arrived)
    await eventually(lambda: settled(hc))


def world(discord: DiscordStandin, content: str) -> tuple[User, Message]:
    alice = discord.add_user("alice")
    guild = discord.add_guild("shop")
    channel = discord.add_channel(guild, "deals")
    return alice, discord.post_message(channel, alice, content)


async def metric(hc: RunningHashcart, kind: str) -> float:
    """`hashcart_platform_events_total{platform="discord",kind=…}` as `/metrics` shows it."""
    async with aiohttp.ClientSession() as http, http.get(f"{hc.url}/metrics") as response:
        text = await response.text()
    wanted = f'hashcart_platform_events_total{{kind="{kind}",platform="discord"}}'
    for line in text.splitlines():
        if line.startswith(wanted):
            return float(line.split()[-1])
    return 0.0


async def test_removing_the_cart_reaction_and_adding_it_again_adds_again(
    discord: DiscordStandin, sqlite_url: str
) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord, sqlite_url) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await discord.react(alice, message, remove=True)
        await discord.react(alice, message)

        await eventually(lambda: len(discord.dms_to(alice)) == 3)
        assert await quantities(hc, alice) == {ECHO: 1}
        added, removed, again = discord.dms_to(alice)
        assert added.startswith("Added Echo Dot") and removed.startswith("Removed Echo Dot")
        assert again.startswith("Added Echo Dot"), "the second add is not a replay of the first"


async def test_a_replayed_add_or_remove_changes_nothing_and_is_not_answered(
    discord: DiscordStandin, sqlite_url: str
) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord, sqlite_url) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await discord.dispatch_reaction(alice, message)  # the same add, delivered twice
        await discord.react(alice, message, remove=True)
        await discord.dispatch_reaction(alice, message, remove=True)
        await discord.dispatch_reaction(alice, message, remove=True)
        await sentinel(discord, hc, alice)

        # Reactions on different messages are handled side by side, so under load the sentinel's
        # add can land before the last of the Echo Dot's events: wait for the cart to settle.
        async def only_the_sentinel() -> bool:
            return await quantities(hc, alice) == {SENTINEL: 1}

        await eventually(only_the_sentinel)
        await asyncio.sleep(0.5)
        assert await quantities(hc, alice) == {SENTINEL: 1}
        # Added, removed, the sentinel. Under load a retried send may still be on its way when
        # the sentinel's arrives (seen once in a clean-clone run); a replay's answer would be a
        # fourth.
        await eventually(lambda: len(discord.dms_to(alice)) >= 3)
        await asyncio.sleep(0.5)
        assert len(discord.dms_to(alice)) == 3


async def test_several_products_one_dm_per_reaction_each_time(
    discord: DiscordStandin, sqlite_url: str
) -> None:
    alice, message = world(discord, f"two deals: {ECHO_URL} and {KINDLE_URL}")
    async with bot(discord, sqlite_url) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await eventually(lambda: len(discord.dms_to(alice)) == 1)
        await discord.react(alice, message, remove=True)
        await eventually(lambda: len(discord.dms_to(alice)) == 2)
        await discord.react(alice, message)
        await eventually(lambda: len(discord.dms_to(alice)) == 3)
        await eventually(lambda: settled(hc))

        assert await quantities(hc, alice) == {ECHO: 1, KINDLE: 1}
        for dm in discord.dms_to(alice):
            assert "Echo Dot" in dm and "Kindle" in dm, dm


async def test_after_a_restart_what_happened_meanwhile_is_caught_up_once(
    discord: DiscordStandin, database_url: str
) -> None:
    """Reactions added and taken back while no process listened reach the cart after a fresh
    IDENTIFY; a message never seen before the restart is not known (and so not covered)."""
    alice, echo = world(discord, ECHO_URL)
    bob, carol, dave = discord.add_user("bob"), discord.add_user("carol"), discord.add_user("dave")
    kindle = discord.post_message(echo.channel, bob, KINDLE_URL)
    unseen = discord.post_message(echo.channel, dave, f"new {KINDLE_URL}")
    async with bot(discord, database_url) as hc:
        for user in (alice, bob, carol, dave):
            await hc.link(user.username, "discord", str(user.id))
        await discord.react(alice, echo)
        await discord.react(bob, kindle)
        await eventually(lambda: discord.dms_to(alice) and discord.dms_to(bob))
        await eventually(lambda: settled(hc))
    identifies = len(discord.identifies)

    # Nobody listens: these events go nowhere, and a new session is not sent them.
    await discord.react(carol, echo)
    await discord.react(alice, echo, remove=True)
    await discord.react(carol, kindle)
    await discord.react(dave, unseen)
    robot = discord.add_user("robot", bot=True)
    await discord.react(robot, echo)  # bots never count, caught up on or not

    async with bot(discord, database_url) as hc:
        await eventually(lambda: len(discord.identifies) > identifies)
        await eventually(lambda: len(discord.dms_to(carol)) == 2, timeout=15)
        await eventually(lambda: len(discord.dms_to(alice)) == 2)
        await eventually(lambda: settled(hc))

        assert await quantities(hc, carol) == {ECHO: 1, KINDLE: 1}
        assert await quantities(hc, alice) == {}
        assert discord.dms_to(alice)[1].startswith("Removed Echo Dot")
        assert await quantities(hc, bob) == {KINDLE: 1}
        assert len(discord.dms_to(bob)) == 1
        assert await quantities(hc, dave) == {}, "a message never seen is not known"
        assert discord.dms_to(robot) == []
        assert await metric(hc, "reconcile_added") == 2
        assert await metric(hc, "reconcile_removed") == 1
        assert await metric(hc, "reconcile_messages") == 2

        # Live again: the reactions caught up on are states like any other.
        await discord.react(carol, echo, remove=True)
        await eventually(lambda: len(discord.dms_to(carol)) == 3)
        await eventually(lambda: settled(hc))
        assert await quantities(hc, carol) == {KINDLE: 1}


async def test_catching_up_reads_every_page_and_waits_out_rate_limits(
    discord: DiscordStandin, sqlite_url: str
) -> None:
    alice, message = world(discord, ECHO_URL)
    crowd = [discord.add_user(f"shopper{index}") for index in range(130)]
    async with bot(discord, sqlite_url, reconcile_minutes="5") as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await eventually(lambda: discord.dms_to(alice))
        await eventually(lambda: settled(hc))

    for user in crowd:  # 130 reactors: two pages of at most 100
        await discord.react(user, message)
    discord.rate_limit("GET", REACTIONS_PATH, limit=1, per=0.5)
    discord.fail_next("GET", REACTIONS_PATH, retry_after=0.3)  # a 429 on the first page

    async with bot(discord, sqlite_url, reconcile_minutes="5") as hc:
        await eventually(lambda: all(discord.dms_to(user) for user in crowd), timeout=20)
        await eventually(lambda: settled(hc))
        await asyncio.sleep(0.3)

        assert [len(discord.dms_to(user)) for user in crowd] == [1] * len(crowd)
        assert f"{hc.url}/link/" in discord.dms_to(crowd[0])[0], "unlinked: asked to link"
        assert discord.count_requests("GET", REACTIONS_PATH) >= 3  # 429, page 1, page 2
        assert discord.rate_limited == 0, "discord.py kept to the bucket it was told about"
        assert discord.count_requests("GET", r"^/users/\d+$") == 0, "the pages say who is a bot"
        assert len(discord.dms_to(alice)) == 1
        assert await metric(hc, "reconcile_added") == len(crowd)


async def test_catching_up_is_off_with_zero_minutes(
    discord: DiscordStandin, sqlite_url: str
) -> None:
    alice, message = world(discord, ECHO_URL)
    bob = discord.add_user("bob")
    async with bot(discord, sqlite_url, reconcile_minutes="0") as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await eventually(lambda: discord.dms_to(alice))
    await discord.react(bob, message)
    async with bot(discord, sqlite_url, reconcile_minutes="0") as hc:
        await sentinel(discord, hc, alice)
        await asyncio.sleep(2.5)  # past the moment the shard is ready
        assert discord.dms_to(bob) == []
        assert discord.count_requests("GET", REACTIONS_PATH) == 0
        assert await hc.hashcart.kv.keys("discord.reacted") == []
