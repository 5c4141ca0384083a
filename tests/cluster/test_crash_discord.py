"""A `hashcart serve` node SIGKILLed with Discord reactions received but not applied.

Discord replays nothing to the new session a restarted process IDENTIFYs with; the new node
catches up by reading who reacted over REST. Every reaction standing ends up in the cart once,
with one DM each, and the reaction applied before the crash is not applied again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from hashcart.accounts import Accounts
from hashcart.catalog import Catalog, CatalogEntry
from hashcart.store import create_engine
from hashcart.testing import eventually
from hashcart.testing.cluster import Node
from hashcart.testing.harness import free_port
from hashcart_discord.testing import DiscordStandin, User

ECHO, ECHO_URL = "amazon:B00X4WHP5E", "https://www.amazon.com/dp/B00X4WHP5E"
KINDLE, KINDLE_URL = "amazon:B07FQ4DJ7X", "https://www.amazon.com/dp/B07FQ4DJ7X"
RECEIVED = "discord.reaction.received"


@contextlib.asynccontextmanager
async def nodes(database_url: str, standin: DiscordStandin) -> AsyncIterator[list[Node]]:
    """Started nodes go into the list; whatever still runs at the end is stopped."""
    started: list[Node] = []
    try:
        yield started
    finally:
        for node in started:
            if node.alive:
                node.process.send_signal(signal.SIGTERM)
        for node in started:
            try:
                node.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                node.kill()


async def start_node(
    started: list[Node], database_url: str, standin: DiscordStandin, **extra: str
) -> Node:
    port = free_port()
    env = {
        **os.environ,
        **standin.env,
        "HASHCART_DATABASE_URL": database_url,
        "HASHCART_PORT": str(port),
        "HASHCART_LOAD_PLUGINS": "amazon,discord",
        "HASHCART_RATE_LIMIT_PER_MINUTE": "0",
        "HASHCART_RATE_LIMIT_PER_HOUR": "0",
        "HASHCART_LOG_LEVEL": "WARNING",
        **extra,
    }
    identified = len(standin.identifies)
    process = subprocess.Popen(  # noqa: ASYNC220 - returns at once; the node runs apart
        [sys.executable, "-m", "hashcart", "serve", "--no-migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    node = Node(port, process)
    started.append(node)
    await eventually(lambda: len(standin.identifies) > identified or not node.alive, timeout=15)
    assert node.alive, f"node exited with {process.returncode}"
    await standin.wait_connected()
    return node


async def seed(database_url: str, users: list[User]) -> None:
    engine = create_engine(database_url)
    try:
        await Catalog(engine).upsert(
            [CatalogEntry(ECHO, "Echo Dot", 4999), CatalogEntry(KINDLE, "Kindle", 9999)]
        )
        accounts = Accounts(engine)
        for user in users:
            created = await accounts.create(user.username)
            await accounts.link(created["id"], "discord", str(user.id))
    finally:
        await engine.dispose()


async def carts(database_url: str) -> dict[str, dict[str, int]]:
    """Discord user id → {product id: quantity}, straight from the database."""
    import sqlalchemy as sa

    from hashcart.store.schema import cart_items, identities

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(identities.c.user_id, cart_items.c.product_id, cart_items.c.quantity)
                .join(cart_items, cart_items.c.account_id == identities.c.account_id)
                .where(identities.c.platform == "discord")
            )
            found: dict[str, dict[str, int]] = {}
            for row in rows:
                found.setdefault(row.user_id, {})[row.product_id] = row.quantity
            return found
    finally:
        await engine.dispose()


async def metric(node: Node, kind: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{node.url}/metrics") as response:
        text = await response.text()
    wanted = f'hashcart_platform_events_total{{kind="{kind}",platform="discord"}}'
    return next(
        (float(line.split()[-1]) for line in text.splitlines() if line.startswith(wanted)), 0
    )


async def test_a_node_killed_between_the_gateway_and_applying_loses_no_reaction(
    shared_postgres: str, tmp_path: Path
) -> None:
    async with DiscordStandin() as discord:
        alice, bob, carol, dave = (discord.add_user(n) for n in ("alice", "bob", "carol", "dave"))
        channel = discord.add_channel(discord.add_guild("shop"), "deals")
        echo = discord.post_message(channel, alice, f"deal {ECHO_URL}")
        kindle = discord.post_message(channel, alice, f"deal {KINDLE_URL}")
        await seed(shared_postgres, [alice, bob, carol, dave])
        report = tmp_path / "faults"

        async with nodes(shared_postgres, discord) as started:
            # A healthy node applies alice's reaction, then dies.
            first = await start_node(started, shared_postgres, discord)
            await discord.react(alice, echo)
            await eventually(lambda: discord.dms_to(alice), timeout=10)
            first.kill()

            # The next node receives two reactions and is killed before applying them.
            faults = {"HASHCART_FAULTS": f"{RECEIVED}=30", "HASHCART_FAULTS_REPORT": str(report)}
            second = await start_node(started, shared_postgres, discord, **faults)
            await discord.react(bob, echo)
            await discord.react(carol, kindle)
            await eventually(
                lambda: report.exists() and len(report.read_text().splitlines()) == 2, timeout=10
            )
            second.kill()

            # While no node listens, dave reacts: Discord tells nobody.
            await discord.react(dave, echo)

            third = await start_node(started, shared_postgres, discord)
            everyone = (alice, bob, carol, dave)
            await eventually(lambda: all(discord.dms_to(u) for u in everyone), timeout=15)
            await asyncio.sleep(1.0)  # room for a second DM, if one were coming

            assert [len(discord.dms_to(u)) for u in everyone] == [1, 1, 1, 1]
            assert await carts(shared_postgres) == {
                str(alice.id): {ECHO: 1},
                str(bob.id): {ECHO: 1},
                str(carol.id): {KINDLE: 1},
                str(dave.id): {ECHO: 1},
            }
            assert await metric(third, "reconcile_added") == 3
            assert len(discord.identifies) == 3 and discord.resumes == []
