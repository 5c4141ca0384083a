"""Real `hashcart serve` processes on one PostgreSQL, fed by the X stand-in (and, with
`slack_users`, the Slack stand-in), for the many-nodes and crash tests and `bench/nodes.py`.

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
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa

from hashcart.accounts import Accounts
from hashcart.catalog import Catalog, CatalogEntry
from hashcart.store import create_engine
from hashcart.store.schema import cart_items, events, identities
from hashcart.testing.harness import free_port
from hashcart.testing.standins import load_standins

PRODUCTS = [f"B0TEST{n:04d}" for n in range(5)]


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]
    #: When `kill()` returned (wall clock, as the stand-ins stamp what they receive).
    killed_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.killed_at = time.time()


@dataclass
class Cluster:
    """Nodes on one database; deliveries go round robin to the live ones, as a balancer would."""

    database_url: str
    #: The X plugin's stand-in (through `hashcart_standins`: the core imports no plugin).
    standin: Any
    nodes: list[Node] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    parents: list[dict[str, Any]] = field(default_factory=list)
    #: With a Slack stand-in the nodes serve Slack too (see `cluster`).
    slack: Any | None = None
    slack_users: list[str] = field(default_factory=list)
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
        if self.slack is not None:
            env.update(
                HASHCART_LOAD_PLUGINS=f"{self.load_plugins},slack",
                HASHCART_SLACK_SIGNING_SECRET=self.slack.signing_secret,
                HASHCART_SLACK_BOT_TOKEN=self.slack.bot_token,
                HASHCART_SLACK_API_URL=self.slack.api_url,
            )
        if self.plugin_path:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [self.plugin_path, os.environ.get("PYTHONPATH")])
            )
        return env

    async def start_node(self, extra_env: Mapping[str, str] | None = None) -> Node:
        """One more node; `extra_env` adds settings for it alone (`HASHCART_FAULTS`, say)."""
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

    async def seed(self, users: int, slack_users: int = 0) -> None:
        """Products, product tweets to reply to, and linked accounts for `users` X users and
        `slack_users` Slack people."""
        engine = create_engine(self.database_url)
        try:
            await Catalog(engine).upsert(
                CatalogEntry(f"amazon:{asin}", f"Product {asin}", 1000) for asin in PRODUCTS
            )
            accounts = Accounts(engine)
            for index in range(users):
                author = self.standin.user(f"shopper{index}")
                self.users.append(author)
                created = await accounts.create(f"shopper{index}")
                await accounts.link(created["id"], "twitter", author["id_str"])
            for index in range(slack_users):
                assert self.slack is not None
                user_id = f"U0SHOPPER{index}"
                created = await accounts.create(f"slack-shopper{index}")
                # hashcart keys a Slack person by workspace and user (`<team_id>:<user_id>`).
                await accounts.link(created["id"], "slack", f"{self.slack.team_id}:{user_id}")
                self.slack_users.append(user_id)
        finally:
            await engine.dispose()
        seller = self.standin.user("seller")
        for asin in PRODUCTS:
            parent = self.standin.tweet(
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
            reply = self.standin.tweet("#amazoncart", user=author, in_reply_to=parent, urls=urls)
            made.append((reply, f"amazon:{asin}"))
        return made

    async def deliver(self, tweet: Mapping[str, Any], start: int) -> None:
        """Deliver until a node answers 200, moving on to the next live node on failure."""
        for attempt in itertools.count():
            node = self._live(start, attempt)
            with contextlib.suppress(aiohttp.ClientError, OSError):
                result = await self.standin.deliver(f"{node.url}/twitter/webhook", [tweet])
                if result.status == 200:
                    return
            await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
            if attempt > 200:
                raise AssertionError(f"tweet {tweet['id_str']} was never accepted")

    def slash_adds(self, count: int, rng: random.Random) -> list[SlashAdd]:
        """`count` distinct `/cart add <link>` commands, each with its own trigger id and
        response URL, as Slack makes them."""
        assert self.slack is not None
        made = []
        for _ in range(count):
            asin = rng.choice(PRODUCTS)
            made.append(
                SlashAdd(
                    user_id=rng.choice(self.slack_users),
                    text=f"add <https://www.amazon.com/dp/{asin}>",
                    product_id=f"amazon:{asin}",
                    trigger_id=self.slack.new_trigger_id(),
                    response_url=self.slack.new_response_url(),
                )
            )
        return made

    def hashtag_messages(self, count: int, rng: random.Random) -> list[SlackMessage]:
        """`count` channel messages with the hashtag and a product link, each its own event."""
        assert self.slack is not None
        made = []
        for _ in range(count):
            asin = rng.choice(PRODUCTS)
            text = f"#amazoncart <https://www.amazon.com/dp/{asin}>"
            event = self.slack.message_event(text, user=rng.choice(self.slack_users))
            made.append(SlackMessage(event, self.slack.new_event_id(), f"amazon:{asin}"))
        return made

    def _live(self, start: int, attempt: int) -> Node:
        live = [n for n in self.nodes if n.alive]
        return live[(start + attempt) % len(live)]

    async def slash(self, command: SlashAdd, start: int, *, tries: int = 20) -> str:
        """Type one slash command through a balancer that retries refused connections and 5xx
        on the next node (Slack itself never sends a slash command twice). "acknowledged" for
        an empty 200; "failed" when a node took the request and then vanished or answered
        otherwise (Slack would show the person an error)."""
        assert self.slack is not None
        for attempt in range(tries):
            node = self._live(start, attempt)
            try:
                result = await self.slack.slash_command(
                    f"{node.url}/slack/events",
                    command.text,
                    user_id=command.user_id,
                    trigger_id=command.trigger_id,
                    response_url=command.response_url,
                )
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.05)
                continue  # refused: the balancer tries the next node
            except (aiohttp.ClientError, OSError, TimeoutError):
                return "failed"  # taken, then gone: not acknowledged
            if result.status == 200 and result.body == "":
                return "acknowledged"
            if result.status < 500:
                return "failed"
            await asyncio.sleep(0.05)
        return "failed"

    async def event(self, message: SlackMessage, start: int) -> bool:
        """Deliver one Events API event as Slack does: a failed delivery (no 2xx, connection
        lost) is retried with the same `event_id`, three times. True once a node answered 200."""
        assert self.slack is not None
        for attempt in range(4):
            node = self._live(start, attempt)
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                result = await self.slack.send_event(
                    f"{node.url}/slack/events",
                    message.event,
                    event_id=message.event_id,
                    retry_num=attempt or None,
                )
                if result.status == 200:
                    return True
            await asyncio.sleep(0.1)
        return False

    async def slack_carts(self) -> dict[tuple[str, str], int]:
        """(Slack user id, product id) → quantity, read straight from the database."""
        carts = await self.carts("slack")
        return {(user.partition(":")[2], product): n for (user, product), n in carts.items()}

    async def recorded(self, prefix: str) -> set[str]:
        """The event keys recorded so far that start with `prefix` (`slack:`, say)."""
        rows = await self._read(
            sa.select(events.c.event_key).where(events.c.event_key.startswith(prefix))
        )
        return {row.event_key for row in rows}

    async def carts(self, platform: str = "twitter") -> dict[tuple[str, str], int]:
        """(user id on `platform`, product id) → quantity, read straight from the database."""
        rows = await self._read(
            sa.select(identities.c.user_id, cart_items.c.product_id, cart_items.c.quantity)
            .join(cart_items, cart_items.c.account_id == identities.c.account_id)
            .where(identities.c.platform == platform)
        )
        return {(r.user_id, r.product_id): r.quantity for r in rows}

    async def _read(self, query: sa.Select[Any]) -> list[sa.Row[Any]]:
        engine = create_engine(self.database_url)
        try:
            async with engine.connect() as conn:
                return list(await conn.execute(query))
        finally:
            await engine.dispose()

    async def stop(self) -> None:
        for node in self.nodes:
            if node.alive:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            try:
                node.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.kill()


@contextlib.asynccontextmanager
async def cluster(
    database_url: str,
    nodes: int,
    users: int,
    *,
    slack_users: int = 0,
    node_env: Sequence[Mapping[str, str]] = (),
    **options: Any,
) -> AsyncIterator[Cluster]:
    """With `slack_users` the nodes serve Slack from its stand-in too; `node_env[i]` adds
    settings to node i; `options` are `Cluster` fields (`load_plugins`, `extra_env`, ...)."""
    standins = load_standins(["twitter", "slack"] if slack_users else ["twitter"])
    async with contextlib.AsyncExitStack() as stack:
        standin = await stack.enter_async_context(standins["twitter"])
        slack = await stack.enter_async_context(standins["slack"]) if slack_users else None
        running = Cluster(database_url, standin, slack=slack, **options)
        await running.seed(users, slack_users)
        try:
            envs = [*node_env, *[{}] * nodes][:nodes]
            await asyncio.gather(*(running.start_node(env) for env in envs))
            yield running
        finally:
            await running.stop()


@dataclass(frozen=True)
class SlashAdd:
    """One `/cart add` a Slack person types; its trigger id is its event id."""

    user_id: str
    text: str
    product_id: str
    trigger_id: str
    response_url: str

    @property
    def event_key(self) -> str:
        return f"slack:{self.trigger_id}"


@dataclass(frozen=True)
class SlackMessage:
    """One `#amazoncart <link>` channel message, delivered as one Events API event."""

    event: Mapping[str, Any]
    event_id: str
    product_id: str

    @property
    def user_id(self) -> str:
        return str(self.event["user"])

    @property
    def event_key(self) -> str:
        return f"slack:{self.event_id}"


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
    return dict(Counter((tweet["user"]["id_str"], product_id) for tweet, product_id in sent))
