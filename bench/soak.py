"""A soak: real `hashcart serve` nodes on one PostgreSQL under steady load, with a fault every
minute; at the end, nothing lost, nothing doubled, every answer sent once, and whether a node's
resident memory grew after warm-up. Not run in CI.

    .venv/bin/python bench/soak.py --minutes 30 --rate 100

Traffic (all to 127.0.0.1): signed X deliveries (one in ten delivered twice, as X retries), and
Mastodon mentions that every node hears over the streaming API; a few shoppers place orders
(add, `#checkout`, `#confirm`) with a shop stand-in that keeps orders by idempotency key.
Faults, in turn, one a minute:

- kill: SIGKILL a node (never the first, whose memory is watched), start a fresh one 5 s later;
- database restart: the soak's database refuses connections for 5 s and every backend of it is
  terminated (`pg_terminate_backend`; the machine's PostgreSQL server itself is not restarted);
- platform 500: X (replies) or Mastodon (posting) answers 500 for 60 s;
- connections cut: every backend of the soak's database is terminated every 0.3 s for 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.ext.asyncio as sa_async
from nodes import fresh

from hashcart.accounts import Accounts
from hashcart.store import create_engine
from hashcart.store.schema import cart_items, identities, orders
from hashcart.testing.cluster import PRODUCTS, Cluster, Node, cluster, plugin_entry_points
from hashcart.testing.standins.order_api import OrderApiStandin
from hashcart_mastodon.testing import Account, MastodonStandin, Status
from hashcart_twitter import testing as x

ORDER_SHOPPERS = 4
MASTODON_SHARE = 0.15
REDELIVERED_SHARE = 0.10
#: Longer than the longest backoff (2 min) plus a platform's 60 s outage.
ANSWER_WITHIN = 300.0


@dataclass
class Load:
    x_adds: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    mentions: list[tuple[Status, Account, str]] = field(default_factory=list)
    confirms: int = 0
    placed_answers: int = 0
    order_timeouts: list[str] = field(default_factory=list)
    commands: int = 0
    late: int = 0


def rss_kib(node: Node) -> int | None:
    try:
        status = Path(f"/proc/{node.process.pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


class Faults:
    def __init__(self, running: Cluster, mastodon: MastodonStandin, url: str) -> None:
        self.running = running
        self.mastodon = mastodon
        base, self.name = url.rsplit("/", 1)
        self.admin = sa_async.create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        self.log: list[str] = []

    async def terminate(self) -> None:
        async with self.admin.connect() as conn:
            await conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": self.name},
            )

    async def kill_node(self) -> None:
        live = [n for n in self.running.nodes[1:] if n.alive]
        if live:
            random.choice(live).kill()
        await asyncio.sleep(5)
        await self.running.start_node()

    async def restart_database(self) -> None:
        async with self.admin.connect() as conn:
            await conn.execute(sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
        try:
            await self.terminate()
            await asyncio.sleep(5)
        finally:
            async with self.admin.connect() as conn:
                await conn.execute(sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))

    async def platform_500(self, which: int) -> None:
        if which % 2 == 0:
            self.running.standin.fail_for(60, status=500, path="/2/tweets")
            await asyncio.sleep(60)
        else:
            self.mastodon.fail_next("POST", "/api/v1/statuses", 500, times=1_000_000)
            await asyncio.sleep(60)
            self.mastodon.clear_faults()

    async def cut_connections(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                await self.terminate()
            await asyncio.sleep(0.3)

    async def run(self, stop: asyncio.Event, every: float) -> None:
        kinds: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        counter = itertools.count()
        for index in counter:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            if stop.is_set():
                return
            kinds = [
                ("kill a node", self.kill_node),
                ("database restart", self.restart_database),
                (
                    "X answering 500 for 60 s" if index // 4 % 2 == 0 else "Mastodon 500 for 60 s",
                    lambda i=index: self.platform_500(i // 4),
                ),
                ("connections cut for 10 s", self.cut_connections),
            ]
            name, fault = kinds[index % len(kinds)]
            self.log.append(f"{time.strftime('%H:%M:%S')} {name}")
            print(f"  fault: {name}", flush=True)
            await fault()

    async def close(self) -> None:
        await self.admin.dispose()


async def seed_mastodon(url: str, mastodon: MastodonStandin, count: int) -> list[Account]:
    engine = create_engine(url)
    people = []
    try:
        accounts = Accounts(engine)
        for index in range(count):
            person = mastodon.add_account(f"toot{index}")
            created = await accounts.create(f"toot{index}")
            await accounts.link(created["id"], "mastodon", person.id)
            people.append(person)
    finally:
        await engine.dispose()
    return people


async def order_flow(
    running: Cluster, shopper: dict[str, Any], load: Load, stop: asyncio.Event, rng: random.Random
) -> None:
    """add → #checkout → #confirm, each step waiting for its answer, until the load stops."""
    dms = running.standin.dms_to
    while not stop.is_set():
        [(add, _)] = running.replies(1, rng, with_link=True)
        add["user"] = dict(shopper)
        before = len(dms(shopper))
        step = "the add's answer"
        try:
            await running.deliver(add, rng.randrange(10))
            await wait_for(lambda a=add: running.standin.replies_to(a), ANSWER_WITHIN)
            step = "the checkout's answer"
            await running.deliver(x.tweet("@hashcart #checkout", user=shopper), 0)
            await wait_for(lambda b=before: len(dms(shopper)) >= b + 1, ANSWER_WITHIN)
            step = "the confirmation's answer"
            await running.deliver(x.tweet("@hashcart #confirm", user=shopper), 1)
            load.confirms += 1
            await wait_for(lambda b=before: len(dms(shopper)) >= b + 2, ANSWER_WITHIN)
            if "Order placed" in dms(shopper)[-1].text:
                load.placed_answers += 1
        except TimeoutError:
            load.order_timeouts.append(f"{shopper['screen_name']}: {step} (tweet {add['id_str']})")
        await asyncio.sleep(rng.uniform(5, 15))


async def wait_for(check: Callable[[], Any], within: float, interval: float = 0.1) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(interval)


async def drive(
    running: Cluster,
    mastodon: MastodonStandin,
    people: list[Account],
    load: Load,
    stop: asyncio.Event,
    rate: float,
    rng: random.Random,
) -> None:
    """Open loop at `rate` commands a second; a command late by more than a second counts."""
    limit = asyncio.Semaphore(256)
    parents = [
        mastodon.post(mastodon.add_account(f"seller{i}"), "Look", urls=[_link(asin)])
        for i, asin in enumerate(PRODUCTS)
    ]
    shoppers = running.users[:-ORDER_SHOPPERS]
    tasks: set[asyncio.Task[None]] = set()

    async def deliver(tweet: dict[str, Any], index: int) -> None:
        async with limit:
            await running.deliver(tweet, index)

    started = time.monotonic()
    for index in itertools.count():
        due = started + index / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -1:
            load.late += 1
        if stop.is_set():
            break
        load.commands += 1
        if rng.random() < MASTODON_SHARE:
            who = rng.choice(people)
            product = rng.randrange(len(PRODUCTS))
            ask = mastodon.post(who, "@hashcart #amazoncart", in_reply_to=parents[product])
            load.mentions.append((ask, who, f"amazon:{PRODUCTS[product]}"))
            continue
        [(tweet, product_id)] = running.replies(1, rng, with_link=True)
        tweet["user"] = dict(rng.choice(shoppers))
        load.x_adds.append((tweet, product_id))
        copies = 2 if rng.random() < REDELIVERED_SHARE else 1
        for _ in range(copies):
            task = asyncio.create_task(deliver(tweet, index))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)


def _link(asin: str) -> str:
    return f"https://www.amazon.com/dp/{asin}"


async def watch_memory(
    running: Cluster, samples: list[tuple[float, int]], stop: asyncio.Event
) -> None:
    """The first node's resident memory every 10 s (it is never killed)."""
    started = time.monotonic()
    while not stop.is_set():
        found = rss_kib(running.nodes[0])
        if found is not None:
            samples.append((time.monotonic() - started, found))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 10)


async def carts(url: str) -> Counter[tuple[str, str, str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(
                    identities.c.platform,
                    identities.c.user_id,
                    cart_items.c.product_id,
                    cart_items.c.quantity,
                ).join(cart_items, cart_items.c.account_id == identities.c.account_id)
            )
            return Counter({(r.platform, r.user_id, r.product_id): r.quantity for r in rows})
    finally:
        await engine.dispose()


async def order_rows(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(orders.c.id, orders.c.status))
            return [(r.id, r.status) for r in rows]
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> None:
    await fresh(args.db)
    with tempfile.TemporaryDirectory(prefix="hashcart-soak-") as folder:
        plugin_path = plugin_entry_points(
            Path(folder), {"test_shop": "hashcart.testing.standins.order_api:plugin"}
        )
        async with (
            OrderApiStandin() as shop,
            MastodonStandin(heartbeat_seconds=5) as mastodon,
            cluster(
                args.db,
                nodes=0,
                users=args.users + ORDER_SHOPPERS,
                load_plugins="amazon,twitter,mastodon,test_shop",
                extra_env={**mastodon.env(), **shop.env()},
                plugin_path=plugin_path,
            ) as running,
        ):
            for _ in range(args.nodes):
                await running.start_node()
            await soak(running, mastodon, shop, args)


async def soak(
    running: Cluster, mastodon: MastodonStandin, shop: OrderApiStandin, args: argparse.Namespace
) -> None:
    rng = random.Random(2026)
    load = Load()
    stop = asyncio.Event()
    memory: list[tuple[float, int]] = []
    people = await seed_mastodon(args.db, mastodon, args.users // 2)
    faults = Faults(running, mastodon, args.db)
    print(
        f"soak: {args.minutes} min at {args.rate}/s, {args.nodes} nodes, "
        f"a fault every {args.fault_every:.0f} s",
        flush=True,
    )
    started = time.monotonic()
    background = [
        asyncio.create_task(faults.run(stop, args.fault_every)),
        asyncio.create_task(watch_memory(running, memory, stop)),
        *(
            asyncio.create_task(order_flow(running, shopper, load, stop, rng))
            for shopper in running.users[-ORDER_SHOPPERS:]
        ),
    ]
    driving = asyncio.create_task(drive(running, mastodon, people, load, stop, args.rate, rng))
    await asyncio.sleep(args.minutes * 60)
    stop.set()
    await driving
    loaded = time.monotonic() - started
    await asyncio.gather(*background)
    await faults.close()
    running.standin.heal()
    mastodon.clear_faults()
    print(f"load over after {loaded:.0f} s; waiting for every answer", flush=True)
    settle_started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        await wait_for(lambda: _all_answered(running, mastodon, load), args.settle, 2.0)
    settled_in = time.monotonic() - settle_started
    await asyncio.sleep(5)  # room for a second answer, if one were coming
    report(running, mastodon, load, memory, faults, args, loaded, settled_in)
    await check_state(running, shop, load, args.db)


async def check_state(running: Cluster, shop: OrderApiStandin, load: Load, url: str) -> None:
    """Carts against what was sent; orders against the shop and the answers."""
    expected: Counter[tuple[str, str, str]] = Counter()
    for tweet, product_id in load.x_adds:
        expected[("twitter", tweet["user"]["id_str"], product_id)] += 1
    for _, who, product_id in load.mentions:
        expected[("mastodon", who.id, product_id)] += 1
    order_users = {u["id_str"] for u in running.users[-ORDER_SHOPPERS:]}
    found = Counter({k: v for k, v in (await carts(url)).items() if k[1] not in order_users})
    lost = sum((expected - found).values())
    doubled = sum((found - expected).values())
    print(f"cart units: {sum(expected.values())} expected, {lost} lost, {doubled} doubled")
    statuses = Counter(status for _, status in await order_rows(url))
    print(
        f"orders: {load.confirms} confirmed, {dict(statuses)}; {len(shop.orders)} at the shop "
        f"({len(shop.calls)} shop calls); {load.placed_answers} 'order placed' answers; "
        f"{len(load.order_timeouts)} order steps never answered"
        + "".join(f"\n  never answered: {missing}" for missing in load.order_timeouts)
    )


def answer_counts(
    running: Cluster, mastodon: MastodonStandin, load: Load
) -> tuple[Counter[int], Counter[int]]:
    """How many X adds and Mastodon mentions got 0, 1, 2 … answers."""
    x_replies = Counter(p.in_reply_to for p in running.standin.posted)
    m_replies = Counter(s.in_reply_to.id for s in mastodon.posted if s.in_reply_to is not None)
    return (
        Counter(x_replies[t["id_str"]] for t, _ in load.x_adds),
        Counter(m_replies[ask.id] for ask, _, _ in load.mentions),
    )


def _all_answered(running: Cluster, mastodon: MastodonStandin, load: Load) -> bool:
    x_answers, m_answers = answer_counts(running, mastodon, load)
    return not x_answers[0] and not m_answers[0]


def report(
    running: Cluster,
    mastodon: MastodonStandin,
    load: Load,
    memory: list[tuple[float, int]],
    faults: Faults,
    args: argparse.Namespace,
    loaded: float,
    settled_in: float,
) -> None:
    x_answers, m_answers = answer_counts(running, mastodon, load)
    print(
        f"commands: {load.commands} in {loaded:.0f} s ({load.commands / loaded:.1f}/s; "
        f"{load.late} sent more than 1 s late), {len(load.x_adds)} X adds, "
        f"{len(load.mentions)} Mastodon mentions"
    )
    print(f"faults: {len(faults.log)}: " + "; ".join(faults.log))
    print(f"answers per X add: {dict(x_answers)}; per Mastodon mention: {dict(m_answers)}")
    print(f"every answer was out {settled_in:.0f} s after the load stopped")
    warm = [kib for at, kib in memory if at >= args.warmup * 60]
    if len(warm) >= 2:
        growth = (warm[-1] - warm[0]) / warm[0] * 100
        print(
            f"node 0 resident memory: {memory[0][1] / 1024:.0f} MiB at start, "
            f"{warm[0] / 1024:.0f} MiB after warm-up, {warm[-1] / 1024:.0f} MiB at the end "
            f"({growth:+.1f} % after warm-up)"
        )
    else:
        print("node 0 resident memory: too few samples after warm-up")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=100.0, help="commands a second")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--fault-every", type=float, default=60.0, help="seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="minutes")
    parser.add_argument("--settle", type=float, default=900.0, help="seconds to wait at the end")
    parser.add_argument(
        "--db", default="postgresql+asyncpg://postgres@127.0.0.1:5432/hashcart_soak"
    )
    asyncio.run(main(parser.parse_args()))
