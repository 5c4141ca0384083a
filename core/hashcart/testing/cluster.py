"""Real `hashcart serve` processes on one PostgreSQL, fed by the X stand-in: the many-nodes
tests and `bench/nodes.py` drive them.

A test-only plugin reaches a node as an installed one would, through an entry point:
`plugin_entry_points` writes a `*.dist-info` declaring it into a folder, and `Cluster.plugin_path`
puts that folder on the nodes' `PYTHONPATH` (name the plugin in `Cluster.load_plugins`)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from hashcart.accounts import Accounts
from hashcart.catalog import Catalog, CatalogEntry
from hashcart.store import create_engine
from hashcart.testing.harness import free_port
from hashcart.testing.standins import twitter as x

PRODUCTS = [f"B0TEST{n:04d}" for n in range(5)]


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@dataclass
class Cluster:
    """Nodes on one database; deliveries go round robin to the live ones, as a balancer would."""

    database_url: str
    standin: x.XStandin
    nodes: list[Node] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    parents: list[dict[str, Any]] = field(default_factory=list)
    load_plugins: str = "amazon,twitter"
    #: Settings every node gets on top of the cluster's own (a shop stand-in's address, say).
    extra_env: dict[str, str] = field(default_factory=dict)
    #: A folder made by `plugin_entry_points`, put first on the nodes' `PYTHONPATH`.
    plugin_path: str | None = None

    def env(self, port: int) -> dict[str, str]:
        env = {
            **os.environ,
            **self.standin.env(),
            "HASHCART_DATABASE_URL": self.database_url,
            "HASHCART_PORT": str(port),
            "HASHCART_LOAD_PLUGINS": self.load_plugins,
            "HASHCART_RATE_LIMIT_PER_MINUTE": "0",
            "HASHCART_RATE_LIMIT_PER_HOUR": "0",
            "HASHCART_LOG_LEVEL": "WARNING",
            **self.extra_env,
        }
        if self.plugin_path:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [self.plugin_path, os.environ.get("PYTHONPATH")])
            )
        return env

    async def start_node(self, extra_env: Mapping[str, str] | None = None) -> Node:
        """Start one node; `extra_env` for it alone (`HASHCART_FAULTS`, say)."""
        port = free_port()
        process = subprocess.Popen(  # noqa: ASYNC220 - returns at once; the node runs apart
            [sys.executable, "-m", "hashcart", "serve", "--no-migrate"],
            env={**self.env(port), **(extra_env or {})},
            stdout=subprocess.DEVNULL,
        )
        node = Node(port, process)
        self.nodes.append(node)
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                if not node.alive:
                    raise RuntimeError(f"node on port {port} exited with {process.returncode}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{node.url}/healthz") as response:
                        if response.status == 200:
                            return node
                await asyncio.sleep(0.1)
        raise RuntimeError(f"node on port {port} did not come up")

    async def seed(self, users: int) -> None:
        """Products, product tweets to reply to, and linked accounts for `users` X users."""
        engine = create_engine(self.database_url)
        try:
            await Catalog(engine).upsert(
                CatalogEntry(f"amazon:{asin}", f"Product {asin}", 1000) for asin in PRODUCTS
            )
            accounts = Accounts(engine)
            for index in range(users):
                author = x.user(f"shopper{index}")
                self.users.append(author)
                created = await accounts.create(f"shopper{index}")
                await accounts.link(created["id"], "twitter", author["id_str"])
        finally:
            await engine.dispose()
        seller = x.user("seller")
        for asin in PRODUCTS:
            parent = x.tweet(
                "look at this", user=seller, urls=[f"https://www.amazon.com/dp/{asin}?tag=aff-20"]
            )
            self.parents.append(self.standin.add_tweet(parent))

    def replies(
        self, count: int, rng: random.Random, *, with_link: bool = False
    ) -> list[tuple[dict[str, Any], str]]:
        """`count` hashtag replies, each with the product it should add. With `with_link` the
        reply carries the product link itself, so taking it in needs no call to X."""
        made = []
        for _ in range(count):
            parent = rng.choice(self.parents)
            asin = PRODUCTS[self.parents.index(parent)]
            urls = [f"https://www.amazon.com/dp/{asin}"] if with_link else []
            author = rng.choice(self.users)
            made.append(
                (
                    x.tweet("#amazoncart", user=author, in_reply_to=parent, urls=urls),
                    f"amazon:{asin}",
                )
            )
        return made

    async def deliver(self, tweet: Mapping[str, Any], start: int) -> None:
        """Deliver until a node answers 200, moving on to the next live node on failure."""
        for attempt in itertools.count():
            live = [n for n in self.nodes if n.alive]
            node = live[(start + attempt) % len(live)]
            try:
                result = await self.standin.deliver(f"{node.url}/twitter/webhook", [tweet])
                if result.status == 200:
                    return
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
            if attempt > 200:
                raise AssertionError(f"tweet {tweet['id_str']} was never accepted")

    async def stop(self) -> None:
        for node in self.nodes:
            if node.alive:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            try:
                node.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.kill()

    async def carts(self) -> dict[tuple[str, str], int]:
        """(X user id, product id) → quantity, read straight from the database."""
        import sqlalchemy as sa

        from hashcart.store.schema import cart_items, identities

        engine = create_engine(self.database_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    sa.select(identities.c.user_id, cart_items.c.product_id, cart_items.c.quantity)
                    .join(cart_items, cart_items.c.account_id == identities.c.account_id)
                    .where(identities.c.platform == "twitter")
                )
                return {(r.user_id, r.product_id): r.quantity for r in rows}
        finally:
            await engine.dispose()


@contextlib.asynccontextmanager
async def cluster(
    database_url: str, nodes: int, users: int, **options: Any
) -> AsyncIterator[Cluster]:
    """`options` are `Cluster` fields (`load_plugins`, `extra_env`, `plugin_path`)."""
    async with x.XStandin() as standin:
        running = Cluster(database_url, standin, **options)
        await running.seed(users)
        try:
            await asyncio.gather(*(running.start_node() for _ in range(nodes)))
            yield running
        finally:
            await running.stop()


def plugin_entry_points(folder: Path, plugins: Mapping[str, str]) -> str:
    """Declare `plugins` (entry point name → `module:attribute`) as hashcart plugins in a
    `*.dist-info` under `folder`; returns the folder for `Cluster.plugin_path`."""
    info = folder / "hashcart_test_plugins-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hashcart-test-plugins\nVersion: 0\n", encoding="utf-8"
    )
    points = "".join(f"{name} = {target}\n" for name, target in plugins.items())
    (info / "entry_points.txt").write_text(f"[hashcart.plugins]\n{points}", encoding="utf-8")
    return str(folder)


def expected_carts(sent: Sequence[tuple[dict[str, Any], str]]) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = {}
    for tweet, product_id in sent:
        key = (tweet["user"]["id_str"], product_id)
        totals[key] = totals.get(key, 0) + 1
    return totals
