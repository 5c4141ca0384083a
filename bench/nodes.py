"""Throughput with 1, 2 and 3 `hashcart serve` nodes on one PostgreSQL, and how long a dead
node's replies take to go out.

    .venv/bin/python bench/nodes.py --deliveries 1500 --db postgresql+asyncpg://postgres@127.0.0.1:5432/hashcart_nodes

Each node is a real process fed signed X deliveries round robin (as a load balancer would);
the X stand-in and the load generator run in this process, on the same two cores, so read the
per-core figures with that in mind. Every run checks that every reply was posted exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import sqlalchemy as sa
import sqlalchemy.ext.asyncio as sa_async

from hashcart.store import upgrade
from hashcart.testing import eventually
from hashcart.testing.cluster import cluster
from hashcart.testing.pytest_plugin import _truncate


async def fresh(url: str) -> None:
    base, name = url.rsplit("/", 1)
    admin = sa_async.create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        if not await conn.scalar(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ):
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    await upgrade(url)
    await _truncate(url)


async def throughput(
    url: str, nodes: int, deliveries: int, concurrency: int
) -> tuple[float, float]:
    await fresh(url)
    rng = random.Random(nodes)
    async with cluster(url, nodes=nodes, users=50) as running:
        sent = running.replies(deliveries, rng, with_link=True)
        limit = asyncio.Semaphore(concurrency)

        async def deliver(index: int) -> None:
            async with limit:
                await running.deliver(sent[index][0], index)

        started = time.perf_counter()
        await asyncio.gather(*(deliver(i) for i in range(len(sent))))
        accepted = time.perf_counter() - started
        await eventually(lambda: all(running.standin.replies_to(t) for t, _ in sent), 300, 0.05)
        answered = time.perf_counter() - started
        assert all(len(running.standin.replies_to(t)) == 1 for t, _ in sent), "a second reply"
    return deliveries / accepted, deliveries / answered


async def takeover(url: str) -> float:
    """Seconds from killing a node that holds replies in flight to the last of them going out."""
    await fresh(url)
    rng = random.Random(99)
    async with cluster(url, nodes=2, users=20) as running:
        running.standin.answer_late(3.0, times=10_000, path="/2/tweets")  # X is slow to answer
        sent = running.replies(200, rng, with_link=True)
        for index, (tweet, _) in enumerate(sent):
            await running.deliver(tweet, index * 2)  # node 0 takes the even ones
        await asyncio.sleep(0.5)  # both nodes are now waiting on X with leased replies
        running.nodes[0].kill()
        killed = time.perf_counter()
        running.standin.heal()
        await eventually(lambda: all(running.standin.replies_to(t) for t, _ in sent), 120, 0.05)
        return time.perf_counter() - killed


async def main(args: argparse.Namespace) -> None:
    figures = {}
    for nodes in (1, 2, 3):
        figures[nodes] = await throughput(args.db, nodes, args.deliveries, args.concurrency)
        accepted, answered = figures[nodes]
        print(
            f"{nodes} node(s): {accepted:6.0f} deliveries/s accepted, {answered:6.0f} replies/s "
            f"end to end ({answered / figures[1][1]:.2f}x one node); every reply posted once"
        )
    print(f"a dead node's replies all went out {await takeover(args.db):.1f} s after its death")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--db", default="postgresql+asyncpg://postgres@127.0.0.1:5432/hashcart_nodes"
    )
    asyncio.run(main(parser.parse_args()))
