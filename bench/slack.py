"""Slack slash commands under load: hashcart's Slack path against a plain Bolt app.

Both servers run in a child process of their own, on the same database, and receive the same
signed `/cart add <link>` commands from this process, which also plays Slack's response_url
(the Slack stand-in). Two figures per server:

* replies/s — replies that *reached* response_url per second, over a closed loop of
  `--concurrency` senders for `--duration` seconds plus the time to drain the backlog (an
  ack-first app can ack fast while its backlog grows, so acks are not counted);
* p99 ack — the 99th percentile of the HTTP acknowledgement at a steady `--rate` commands/s.

The reference is written the way a Slack developer would: a Bolt `AsyncApp` whose `/cart`
listener acks, inserts one row with SQLAlchemy (async) and calls `respond()`.

    .venv/bin/python bench/slack.py --db sqlite
    .venv/bin/python bench/slack.py --db postgresql   # HASHCART_TEST_POSTGRES_URL or local default
    .venv/bin/python bench/slack.py --db sqlite --servers hashcart,hashcart-cached

`hashcart-cached` is hashcart with the product not in the operator's catalog but fetched from a
live product source earlier and still fresh (within `HASHCART_PRODUCT_TTL`): the price of an add
of a product from the source cache against one from the catalog. Its source fails every fetch,
so a figure that counts a single fetch is not taken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from loadgen import LoadGenerator, LoadResult

from hashcart import hookimpl
from hashcart.testing import eventually
from hashcart_slack.testing import SlackStandin, signed_headers, slash_command_form

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = "https://www.amazon.com/dp/B00X4WHP5E"
#: Distinct Slack users sending commands (hashcart answers each user's replies in order).
USERS = [f"U{n:07d}" for n in range(int(os.environ.get("BENCH_SLACK_USERS", "1000")))]
CONTENT_TYPE = "application/x-www-form-urlencoded"
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


# ---------------------------------------------------------------------------------------------
# The servers under test (each runs in a child process: `bench/slack.py _serve <kind> ...`)
# ---------------------------------------------------------------------------------------------


class NeverFetched:
    """A live source for Amazon that must not be asked: the product is in its cache."""

    name = "bench-never-fetched"
    max_batch = 10

    def handles(self, ref: object) -> bool:
        return getattr(ref, "store", None) == "amazon"

    async def fetch(self, refs: object) -> dict[str, object]:
        raise RuntimeError("bench: the cached product was fetched; the figure is void")


class NeverFetchedPlugin:
    @hookimpl
    def hashcart_product_sources(self) -> NeverFetched:
        return NeverFetched()


async def serve_hashcart(
    db: str, port: int, api_url: str, secret: str, token: str, cached: bool = False
) -> None:
    import hashcart_slack
    from hashcart.catalog import CatalogEntry
    from hashcart.testing import running_hashcart

    env = {
        "HASHCART_SLACK_SIGNING_SECRET": secret,
        "HASHCART_SLACK_BOT_TOKEN": token,
        "HASHCART_SLACK_API_URL": api_url,
        "HASHCART_LOG_LEVEL": "WARNING",
    }
    plugins: list[object] = [hashcart_slack, NeverFetchedPlugin()] if cached else [hashcart_slack]
    async with running_hashcart(plugins=plugins, env=env, database_url=db, port=port) as hc:
        if cached:
            fetched = CatalogEntry(
                "amazon:B00X4WHP5E",
                "Echo Dot",
                4999,
                source=NeverFetched.name,
                fetched_at=time.time(),
                url=PRODUCT,
            )
            await hc.hashcart.catalog.store_fetched([fetched])
        else:
            await hc.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        for user in USERS:
            await hc.link(f"bench-{user}", "slack", f"T0001:{user}")  # team + user
        await _ready_and_wait()


async def serve_bolt(db: str, port: int, api_url: str, secret: str, token: str) -> None:
    import sqlalchemy as sa
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.app.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from hashcart.store import create_engine

    engine = create_engine(db)  # hashcart's settings: WAL and a busy timeout on SQLite
    metadata = sa.MetaData()
    items = sa.Table(
        "bolt_reference_items",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)

    app = AsyncApp(
        signing_secret=secret, client=AsyncWebClient(token=token, base_url=api_url, timeout=10)
    )

    @app.command("/cart")  # type: ignore[misc]
    async def cart(ack, respond, command):  # type: ignore[no-untyped-def]
        await ack()
        async with engine.begin() as conn:
            await conn.execute(
                items.insert().values(
                    user_id=command["user_id"], text=command["text"], created_at=time.time()
                )
            )
        await respond("Added it to your cart.")

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await _ready_and_wait()
    finally:
        await runner.cleanup()
        await engine.dispose()


async def _ready_and_wait() -> None:
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


@contextlib.contextmanager
def child_server(kind: str, db: str, api_url: str, secret: str, token: str) -> Iterator[str]:
    """Start one server in its own process; yields its /slack/events URL."""
    from hashcart.testing.harness import free_port

    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, __file__, "_serve", kind, db, str(port), api_url, secret, token],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"{kind} server did not start (exit {proc.poll()})")
        yield f"http://127.0.0.1:{port}/slack/events"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    """One load phase: the acks the load generator saw and the replies that reached Slack."""

    load: LoadResult
    replied: int
    seconds: float

    @property
    def replies_per_second(self) -> float:
        return self.replied / self.seconds if self.seconds else 0.0


def load_generator(url: str, slack: SlackStandin, first: int) -> LoadGenerator:
    """Signed `/cart add <link>` commands, each with a response_url of its own at the stand-in."""

    def make_body(n: int) -> bytes:
        return slash_command_form(
            f"add <{PRODUCT}|{PRODUCT.removeprefix('https://')}>",
            response_url=slack.new_response_url(),
            user_id=USERS[n % len(USERS)],
            trigger_id=f"bench.{first + n}.{secrets.token_hex(8)}",
        )

    def sign(body: bytes) -> dict[str, str]:
        headers = signed_headers(slack.signing_secret, body, content_type=CONTENT_TYPE)
        del headers["Content-Type"]
        return headers

    return LoadGenerator(url, make_body, sign, content_type=CONTENT_TYPE)


async def phase(
    url: str, slack: SlackStandin, first: int, patience: float, **load: float
) -> Result:
    """Run one load phase, then wait for its replies: replies/s runs to the last reply."""
    slack.responses.clear()
    async with load_generator(url, slack, first) as generator:
        if "rate" in load:
            result = await generator.open_loop(rate=load["rate"], total=int(load["total"]))
        else:
            result = await generator.closed_loop(
                concurrency=int(load["concurrency"]), duration=load["duration"]
            )
    with contextlib.suppress(AssertionError):
        await eventually(lambda: len(slack.responses) >= result.ok, timeout=patience, interval=0.05)
    last = max((r.at for r in slack.responses), default=time.time())
    return Result(result, len(slack.responses), last - result.started_at)


# ---------------------------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, folder: Path, name: str) -> Iterator[str]:
    """A fresh, migrated database for one server."""
    from hashcart.store.migrate import upgrade_sync

    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / (name + '.db')}"
        upgrade_sync(url)
        yield url
        return
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = os.environ.get("HASHCART_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    db_name = f"hashcart_bench_{name}_{secrets.token_hex(3)}"

    async def run(sql: str) -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text(sql))
        finally:
            await engine.dispose()

    asyncio.run(run(f'CREATE DATABASE "{db_name}"'))
    url = admin.rsplit("/", 1)[0] + f"/{db_name}"
    try:
        upgrade_sync(url)
        yield url
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


async def measure(url: str, slack: SlackStandin, args: argparse.Namespace) -> tuple[Result, Result]:
    # A short warm-up: Bolt's first request calls auth.test, connections get opened.
    await phase(url, slack, 0, args.drain, concurrency=4, duration=0.5)
    throughput = await phase(
        url, slack, 10**6, args.drain, concurrency=args.concurrency, duration=args.duration
    )
    steady = await phase(
        url, slack, 2 * 10**6, args.drain, rate=args.rate, total=args.rate * args.rate_duration
    )
    return throughput, steady


def run_one(
    kind: str, db_kind: str, folder: Path, args: argparse.Namespace
) -> tuple[Result, Result]:
    async def with_standin(db: str) -> tuple[Result, Result]:
        async with SlackStandin() as slack:
            with child_server(
                kind, db, slack.api_url, slack.signing_secret, slack.bot_token
            ) as url:
                return await measure(url, slack, args)

    with database(db_kind, folder, kind) as db:
        return asyncio.run(with_standin(db))


def report(name: str, rate: float, throughput: Result, steady: Result) -> None:
    print(
        f"  {name:<10} {throughput.replies_per_second:6.0f} replies/s "
        f"({throughput.replied}/{throughput.load.ok} in {throughput.seconds:.1f} s; "
        f"ack p50 {throughput.load.p(50):.1f} ms)  |  steady {rate:.0f}/s: "
        f"ack p50 {steady.load.p(50):.1f} ms, p99 {steady.load.p(99):.1f} ms, "
        f"max {steady.load.p(100):.1f} ms; replies {steady.replied}/{steady.load.sent} "
        f"[{', '.join(f'{k}: {v}' for k, v in steady.load.statuses.items())}]"
    )


NAMES = {"bolt": "plain Bolt", "hashcart": "hashcart", "hashcart-cached": "cached"}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        kind, db, port, api_url, secret, token = sys.argv[2:8]
        if kind == "bolt":
            asyncio.run(serve_bolt(db, int(port), api_url, secret, token))
        else:
            cached = kind == "hashcart-cached"
            asyncio.run(serve_hashcart(db, int(port), api_url, secret, token, cached))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0, help="closed-loop seconds")
    parser.add_argument("--rate", type=float, default=250.0, help="steady commands per second")
    parser.add_argument("--rate-duration", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=60.0, help="max seconds to await replies")
    parser.add_argument("--users", type=int, default=len(USERS), help="distinct Slack users")
    parser.add_argument(
        "--servers",
        default="bolt,hashcart",
        help="comma-separated: bolt, hashcart, hashcart-cached (product from a source's cache)",
    )
    args = parser.parse_args()
    os.environ["BENCH_SLACK_USERS"] = str(args.users)  # the child servers read it
    USERS[:] = [f"U{n:07d}" for n in range(args.users)]
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(
        f"slack bench: concurrency {args.concurrency} for {args.duration:.0f}s; "
        f"steady {args.rate:.0f}/s for {args.rate_duration:.0f}s; {args.users} users; "
        f"{os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="hashcart-bench-") as tmp:
        for db_kind in kinds:
            print(f"{db_kind}:")
            results = {}
            for kind in args.servers.split(","):
                results[kind] = run_one(kind, db_kind, Path(tmp), args)
                report(NAMES.get(kind, kind), args.rate, *results[kind])
            if "bolt" in results and "hashcart" in results:
                ours, bolt = results["hashcart"], results["bolt"]
                ratio = ours[0].replies_per_second / max(bolt[0].replies_per_second, 1e-9)
                print(f"  ratio hashcart / plain Bolt replies/s: {ratio:.2f}x")
            if "hashcart" in results and "hashcart-cached" in results:
                catalog, cached = results["hashcart"], results["hashcart-cached"]
                cost = catalog[0].replies_per_second / max(cached[0].replies_per_second, 1e-9)
                p50 = cached[1].load.p(50) / max(catalog[1].load.p(50), 1e-9)
                print(
                    f"  cached source product vs catalog product: {100 * (cost - 1):+.1f} % time "
                    f"per reply, steady ack p50 {100 * (p50 - 1):+.1f} %"
                )


if __name__ == "__main__":
    main()
