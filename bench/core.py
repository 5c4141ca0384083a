"""Apply N commands through the core (no HTTP) and print commands/s and latency percentiles.

    .venv/bin/python bench/core.py --commands 20000 --producers 64 --db sqlite
    .venv/bin/python bench/core.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/hashcart_bench

Every tenth command is a redelivery of an earlier event; the run fails unless every cart ends
with exactly one unit per distinct event id.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
import sqlalchemy.ext.asyncio as sa_async

from hashcart import CartCommand, OutcomeCode, ProductRef, ReplyTarget, hookimpl
from hashcart.app import Hashcart
from hashcart.catalog import CatalogEntry
from hashcart.config import Settings, load_settings
from hashcart.store import create_engine, upgrade
from hashcart.store.schema import cart_items, metadata

USERS = 1000
PRODUCTS = 50


class BenchStore:
    @hookimpl
    def hashcart_product_from_url(self, url: str) -> ProductRef | None:
        prefix = "https://shop.bench/p/"
        return ProductRef("bench", url[len(prefix) :], url) if url.startswith(prefix) else None


async def reset(url: str) -> None:
    """A clean, migrated database; a PostgreSQL one is created when missing."""
    if url.startswith("postgresql"):
        base, name = url.rsplit("/", 1)
        admin = sa_async.create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            exists = await conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            )
            if not exists:
                await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
    await upgrade(url)
    engine = create_engine(url)
    async with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(sa.delete(table))
    await engine.dispose()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def run(url: str, total: int, producers: int) -> dict[str, float]:
    await reset(url)
    os.environ.update(
        {
            "HASHCART_DATABASE_URL": url,
            "HASHCART_RATE_LIMIT_PER_MINUTE": "0",
            "HASHCART_RATE_LIMIT_PER_HOUR": "0",
        }
    )
    hashcart = Hashcart(load_settings(Settings), plugins=[BenchStore()], load_entry_points=False)
    await hashcart.catalog.upsert(
        CatalogEntry(f"bench:P{i}", f"Product {i}", 100 + i) for i in range(PRODUCTS)
    )
    for user in range(USERS):
        account = await hashcart.accounts.create(f"user{user}")
        await hashcart.accounts.link(account["id"], "bench", str(user))
    await hashcart.start()

    def make(index: int) -> CartCommand:
        event = index - 1 if index % 10 == 9 else index  # every tenth is a redelivery
        user = str(event % USERS)
        return CartCommand(
            platform="bench",
            user_id=user,
            action="add",  # type: ignore[arg-type]
            event_id=str(event),
            reply_to=ReplyTarget("bench", user=user, channel=str(event)),
            reference=f"https://shop.bench/p/P{event % PRODUCTS}",
        )

    commands = [make(i) for i in range(total)]
    latencies: list[float] = []
    applied = 0
    queue = iter(commands)

    async def producer() -> None:
        nonlocal applied
        for command in queue:
            started = time.perf_counter()
            outcome = await hashcart.submit(command)
            latencies.append(time.perf_counter() - started)
            if outcome.code in (OutcomeCode.ADDED, OutcomeCode.INCREASED):
                applied += 1

    started = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(producers)))
    elapsed = time.perf_counter() - started
    await hashcart.stop()

    engine = create_engine(url)
    async with engine.connect() as conn:
        units = (await conn.execute(sa.select(sa.func.sum(cart_items.c.quantity)))).scalar_one()
    await engine.dispose()
    distinct = len({c.event_id for c in commands})
    if units != distinct or applied != distinct:
        sys.exit(f"FAILED: {units} units in carts, {applied} applied, {distinct} distinct events")
    return {
        "commands": total,
        "seconds": elapsed,
        "per_second": total / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=20000)
    parser.add_argument("--producers", type=int, default=64)
    parser.add_argument(
        "--db",
        action="append",
        help="sqlite (a temporary file) or a postgresql+asyncpg:// URL; repeatable",
    )
    args = parser.parse_args()
    targets = args.db or ["sqlite", "postgresql+asyncpg://postgres@127.0.0.1:5432/hashcart_bench"]
    with tempfile.TemporaryDirectory() as folder:
        for target in targets:
            url = (
                f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}" if target == "sqlite" else target
            )
            figures = asyncio.run(run(url, args.commands, args.producers))
            name = url.split("://")[0]
            print(
                f"{name:22} {figures['commands']:>7} commands  {figures['per_second']:8.0f}/s  "
                f"p50 {figures['p50_ms']:6.1f} ms  p99 {figures['p99_ms']:6.1f} ms  "
                f"({args.producers} producers, every 10th a redelivery, carts exact)"
            )


if __name__ == "__main__":
    main()
