"""Slack slash commands under load: hashcart's Slack path against a bare handler and plain Bolt.

Each server runs in a child process of its own (`serve.py`), on a fresh database, and receives
the same signed `/cart add <link>` commands from this process, which also plays Slack's
response_url (the Slack stand-in). Every twentieth command is a retry of the one before (the same
body, `X-Slack-Retry-Num: 1`), as Slack sends when an ack is late. Figures per server:

* replies/s — replies that *reached* response_url per second, over a closed loop of
  `--concurrency` senders for `--duration` seconds plus the time to drain the backlog (an
  ack-first app can ack fast while its backlog grows, so acks are not counted);
* CPU per request — the server process's CPU time over the closed loop ÷ its requests;
* ack p99 and answer p50 / p99 (command sent → reply at response_url) at a steady `--rate`;
* after the run, the database is checked: one cart unit (or one row) per distinct command, and
  one reply per command.

The references: "bare" is plain aiohttp (verify the signature, insert one row idempotently,
commit, post one reply to response_url); "bolt" is a Bolt `AsyncApp` whose `/cart` listener
acks, inserts the row with SQLAlchemy (async) and calls `respond()`, the way Bolt's docs teach.

    .venv/bin/python bench/slack.py --db sqlite
    .venv/bin/python bench/slack.py --db postgresql   # HASHCART_TEST_POSTGRES_URL or local default
    .venv/bin/python bench/slack.py --db sqlite --servers hashcart,hashcart-cached

`hashcart-cached` is hashcart with the products not in the operator's catalog but fetched from a
live source earlier and still fresh (within `HASHCART_PRODUCT_TTL`): the price of an add of a
product from the source cache against one from the catalog. Its source fails every fetch, so a
figure that counts a single fetch is not taken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import serve
from loadgen import LoadGenerator, LoadResult, percentile

from hashcart import hookimpl
from hashcart.testing import eventually
from hashcart_slack.testing import SlackStandin, signed_headers, slash_command_form

CONTENT_TYPE = "application/x-www-form-urlencoded"
REFERENCE_TABLE = "reference_commands"


def users(count: int) -> list[str]:
    return [f"U{n:07d}" for n in range(count)]


# ---------------------------------------------------------------------------------------------
# The servers under test (each runs in a child process: `bench/slack.py _serve PORT KIND ...`)
# ---------------------------------------------------------------------------------------------


class NeverFetched:
    """A live source for Amazon that must not be asked: the products are in its cache."""

    name = "bench-never-fetched"
    max_batch = 10

    def handles(self, ref: object) -> bool:
        return getattr(ref, "store", None) == "amazon"

    async def fetch(self, refs: object) -> dict[str, object]:
        raise RuntimeError("bench: a cached product was fetched; the figure is void")


class NeverFetchedPlugin:
    @hookimpl
    def hashcart_product_sources(self) -> NeverFetched:
        return NeverFetched()


async def serve_hashcart(port: int, db: str, env: dict[str, str], sizes: tuple[int, int]) -> None:
    import hashcart_slack
    from hashcart.catalog import CatalogEntry
    from hashcart.loop import tune_collector
    from hashcart.testing import running_hashcart

    user_count, products = sizes
    cached = env.pop("BENCH_CACHED", "") == "1"
    plugins: list[object] = [hashcart_slack, NeverFetchedPlugin()] if cached else [hashcart_slack]
    env = {**env, "HASHCART_LOG_LEVEL": "WARNING"}
    async with running_hashcart(plugins=plugins, env=env, database_url=db, port=port) as hc:
        await serve.seed_hashcart(
            hc, "slack", [f"T0001:{u}" for u in users(user_count)], 0 if cached else products
        )
        await serve.seed_history(hc.hashcart.engine, "slack")
        if cached:
            fetched = [
                CatalogEntry(
                    f"amazon:{serve.asin(n)}",
                    f"Bench gadget {n}",
                    999 + n,
                    source=NeverFetched.name,
                    fetched_at=time.time(),
                    url=f"https://www.amazon.com/dp/{serve.asin(n)}",
                )
                for n in range(products)
            ]
            await hc.hashcart.catalog.store_fetched(fetched)
        tune_collector()  # as `hashcart serve` does once started
        await serve.ready_and_wait()


async def reference_table(db: str) -> tuple[Any, Any]:
    """The references' engine (hashcart's settings: WAL and a busy timeout on SQLite) and their
    one table, keyed by the command's trigger_id so a retry inserts nothing."""
    import sqlalchemy as sa

    from hashcart.store import create_engine

    engine = create_engine(db)
    table = sa.Table(
        REFERENCE_TABLE,
        sa.MetaData(),
        sa.Column("trigger_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    await serve.seed_reference_history(
        engine,
        table,
        lambda n: {"trigger_id": f"history-{n}", "user_id": "history", "text": "add",
                   "created_at": 0.0},
    )  # fmt: skip
    return engine, table


async def serve_bolt(port: int, db: str, env: dict[str, str], _sizes: tuple[int, int]) -> None:
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.app.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    engine, table = await reference_table(db)
    app = AsyncApp(
        signing_secret=env["HASHCART_SLACK_SIGNING_SECRET"],
        client=AsyncWebClient(
            token=env["HASHCART_SLACK_BOT_TOKEN"],
            base_url=env["HASHCART_SLACK_API_URL"],
            timeout=10,
        ),
    )

    @app.command("/cart")  # type: ignore[misc]
    async def cart(ack, respond, command):  # type: ignore[no-untyped-def]
        await ack()
        async with engine.begin() as conn:
            inserted = await conn.execute(
                serve.insert_once(
                    engine,
                    table,
                    trigger_id=command["trigger_id"],
                    user_id=command["user_id"],
                    text=command["text"],
                    created_at=time.time(),
                )
            )
        if inserted.rowcount:
            await respond("Added it to your cart.")

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    await run_app(port, handle, engine)


async def serve_bare(port: int, db: str, env: dict[str, str], _sizes: tuple[int, int]) -> None:
    """Plain aiohttp: check the v0 signature, insert one row idempotently, commit, ack, and post
    one reply to response_url after the ack."""
    from urllib.parse import parse_qs

    import aiohttp
    from aiohttp import web

    engine, table = await reference_table(db)
    secret = env["HASHCART_SLACK_SIGNING_SECRET"].encode()
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    background: set[asyncio.Task[None]] = set()

    async def reply(response_url: str) -> None:
        async with session.post(response_url, json={"text": "Added it to your cart."}) as resp:
            await resp.read()

    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        stamp = request.headers.get("X-Slack-Request-Timestamp", "0")
        given = request.headers.get("X-Slack-Signature", "")
        mac = hmac.new(secret, b"v0:" + stamp.encode() + b":" + raw, hashlib.sha256)
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
        if not fresh or not hmac.compare_digest(given, "v0=" + mac.hexdigest()):
            return web.Response(status=401)
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        async with engine.begin() as conn:
            inserted = await conn.execute(
                serve.insert_once(
                    engine,
                    table,
                    trigger_id=form["trigger_id"],
                    user_id=form["user_id"],
                    text=form.get("text", ""),
                    created_at=time.time(),
                )
            )
        if inserted.rowcount:
            task = asyncio.create_task(reply(form["response_url"]))
            background.add(task)
            task.add_done_callback(background.discard)
        return web.Response()

    try:
        await run_app(port, handle, engine)
    finally:
        await session.close()


async def run_app(port: int, handle: Any, engine: Any) -> None:
    from aiohttp import web

    web_app = web.Application()
    web_app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await serve.ready_and_wait()
    finally:
        await runner.cleanup()
        await engine.dispose()


SERVERS = {
    "bare": serve_bare,
    "bolt": serve_bolt,
    "hashcart": serve_hashcart,
    "hashcart-cached": serve_hashcart,
}
NAMES = {"bare": "bare", "bolt": "plain Bolt", "hashcart": "hashcart", "hashcart-cached": "cached"}


# ---------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------


class Commands:
    """Builds the n-th signed `/cart add <link>` (every twentieth a retry of the one before) and
    remembers when each command was first sent."""

    def __init__(self, slack: SlackStandin, user_count: int, products: int) -> None:
        self.slack = slack
        self.users = users(user_count)
        self.products = products
        self.bodies: dict[int, bytes] = {}
        self.retries: set[bytes] = set()
        self.sent_at: dict[str, float] = {}  # response_url → first send
        self.sent = 0

    def body(self, n: int) -> bytes:
        self.sent += 1
        if n % 20 == 19 and n - 1 in self.bodies:
            body = self.bodies.pop(n - 1)
            self.retries.add(body)
            return body
        link = f"https://www.amazon.com/dp/{serve.asin(n % self.products)}"
        response_url = self.slack.new_response_url()
        body = slash_command_form(
            f"add <{link}|{link.removeprefix('https://')}>",
            response_url=response_url,
            user_id=self.users[n % len(self.users)],
            trigger_id=f"bench.{n}.{secrets.token_hex(6)}",
        )
        self.bodies = {n: body}  # only the last one can be retried
        self.sent_at[response_url] = time.time()
        return body

    def sign(self, body: bytes) -> dict[str, str]:
        retry = 1 if body in self.retries else None
        headers = signed_headers(
            self.slack.signing_secret, body, content_type=CONTENT_TYPE, retry_num=retry
        )
        del headers["Content-Type"]
        return headers

    def distinct(self) -> int:
        return len(self.sent_at)


async def drain(slack: SlackStandin, commands: Commands, patience: float) -> None:
    with contextlib.suppress(AssertionError):
        await eventually(
            lambda: len(slack.responses) >= commands.distinct(), timeout=patience, interval=0.05
        )


async def run_server(
    kind: str, db: str, args: argparse.Namespace, profile: Path | None = None
) -> serve.Figures:
    """One server on a fresh database `db`: warm-up, closed loop, steady rate, check."""
    figures = serve.Figures("Slack", NAMES[kind], "postgresql" if "postgres" in db else "sqlite")
    async with SlackStandin() as slack:
        env = {
            "HASHCART_SLACK_SIGNING_SECRET": slack.signing_secret,
            "HASHCART_SLACK_BOT_TOKEN": slack.bot_token,
            "HASHCART_SLACK_API_URL": slack.api_url,
            "BENCH_CACHED": "1" if kind == "hashcart-cached" else "",
        }
        script_args = [kind, db, repr(env), f"{args.users},{args.products}"]
        with serve.child_server(Path(__file__), script_args, count=args.count) as server:
            figures.rss_idle = server.rss()
            url = f"http://127.0.0.1:{server.port}/slack/events"
            commands = Commands(slack, args.users, args.products)
            generator = LoadGenerator(url, commands.body, commands.sign, content_type=CONTENT_TYPE)
            async with generator as load:
                await load.closed_loop(concurrency=4, duration=0.5)  # warm-up (Bolt's auth.test)
                await drain(slack, commands, args.drain)
                replied, warm = len(slack.responses), commands.distinct()
                backends = serve.BackendsCpu(db) if "postgres" in db else None
                if backends is not None:
                    await backends.start()
                server.mark()
                with server.profile(profile) if profile else contextlib.nullcontext():
                    closed = await load.closed_loop(
                        concurrency=args.concurrency, duration=args.duration
                    )
                    await drain(slack, commands, args.drain)
                    usage = server.since_mark()  # the replies of a backlog cost CPU too
                figures.rss_load = usage.rss
                figures.cpu_ms = usage.per_request_ms(closed.sent)
                figures.system_share = usage.system / usage.cpu if usage.cpu else float("nan")
                last = max((r.at for r in slack.responses), default=time.time())
                figures.replies_per_s = (len(slack.responses) - replied) / (
                    last - closed.started_at
                )
                first_steady = len(slack.responses)
                total = int(args.rate * args.rate_seconds)
                steady = await load.open_loop(rate=args.rate, total=total)
                await drain(slack, commands, args.drain)
                figures.rss_load = max(figures.rss_load, server.rss())
                if figures.db == "postgresql":
                    assert backends is not None
                    await backends.stop()
                    spent = backends.seconds
                    figures.db_cpu_ms = 1000 * spent / max(commands.distinct() - warm, 1)
                    figures.db_transactions = backends.transactions / max(
                        commands.distinct() - warm, 1
                    )
            figures.requests = closed.sent + steady.sent
            figures.ack_p99 = steady.p(99)
            answers = [
                (r.at - commands.sent_at[r.response_url]) * 1000
                for r in slack.responses[first_steady:]
                if r.response_url in commands.sent_at
            ]
            figures.answer_p50 = percentile(answers, 50)
            figures.answer_p99 = percentile(answers, 99)
            bad = not_ok(closed) + not_ok(steady)
        figures.counts = server.figures.get("counts")
        figures.applied = await applied(kind, db)
        figures.checked = check(slack, commands, figures.applied, bad)
    return figures


def not_ok(load: LoadResult) -> int:
    return load.sent - load.ok


async def applied(kind: str, db: str) -> int:
    """Distinct commands the database holds: cart units (hashcart) or the references' rows."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db)
    try:
        async with engine.connect() as conn:
            if kind.startswith("hashcart"):
                query = serve.CART_UNITS
            else:
                query = f"SELECT COUNT(*) FROM {REFERENCE_TABLE} WHERE user_id <> 'history'"
            return int((await conn.execute(sa.text(query))).scalar_one())
    finally:
        await engine.dispose()


def check(slack: SlackStandin, commands: Commands, applied: int, not_ok: int) -> str:
    problems = []
    if not_ok:
        problems.append(f"{not_ok} requests not acked with 200")
    if applied != commands.distinct():
        problems.append(f"{applied} applied of {commands.distinct()} commands")
    per_url = Counter(r.response_url for r in slack.responses)
    missing = commands.distinct() - len(set(per_url) & set(commands.sent_at))
    doubled = sum(1 for n in per_url.values() if n > 1)
    if missing:
        problems.append(f"{missing} commands without a reply")
    if doubled:
        problems.append(f"{doubled} commands replied more than once")
    return "; ".join(problems) or "ok"


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="closed-loop seconds")
    parser.add_argument("--rate", type=float, default=250.0, help="steady commands per second")
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=60.0, help="max seconds to await replies")
    parser.add_argument("--users", type=int, default=5000, help="linked users")
    parser.add_argument("--products", type=int, default=1000, help="products in the catalog")
    parser.add_argument(
        "--count", action="store_true", help="count statements and PostgreSQL round trips"
    )


def report(figures: serve.Figures) -> None:
    print(
        f"  {figures.server:<10} {figures.replies_per_s:6.0f} replies/s, "
        f"{figures.cpu_ms:.2f} ms CPU/request | steady: ack p99 {figures.ack_p99:.1f} ms, "
        f"answer p50 {figures.answer_p50:.1f} / p99 {figures.answer_p99:.1f} ms | "
        f"RSS {figures.rss_idle >> 20} → {figures.rss_load >> 20} MiB | "
        f"{figures.applied} applied, check: {figures.checked}"
    )
    if figures.counts:
        print(f"    counts: {figures.counts}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        import ast

        serve.start_child()
        port, kind, db, env, sizes = sys.argv[2:7]
        user_count, products = (int(x) for x in sizes.split(","))
        server = SERVERS[kind](int(port), db, ast.literal_eval(env), (user_count, products))
        serve.run_child(kind, server)
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--servers",
        default="bare,bolt,hashcart",
        help="comma-separated: bare, bolt, hashcart, hashcart-cached (products from a cache)",
    )
    add_load_arguments(parser)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(
        f"slack bench: concurrency {args.concurrency} for {args.duration:.0f} s; steady "
        f"{args.rate:.0f}/s for {args.rate_seconds:.0f} s; {args.users} users, {args.products} "
        f"products; {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="hashcart-bench-") as tmp:
        for db_kind in kinds:
            print(f"{db_kind}:")
            results: dict[str, serve.Figures] = {}
            for kind in args.servers.split(","):
                with serve.fresh_database(db_kind, Path(tmp), kind.replace("-", "_")) as db:
                    results[kind] = asyncio.run(run_server(kind, db, args))
                report(results[kind])
            ours = results.get("hashcart")
            for other in ("bare", "bolt"):
                if ours and other in results:
                    ratio = ours.replies_per_s / max(results[other].replies_per_s, 1e-9)
                    print(f"  hashcart / {NAMES[other]} replies/s: {ratio:.2f}x")
            if ours and "hashcart-cached" in results:
                cached = results["hashcart-cached"]
                cost = ours.replies_per_s / max(cached.replies_per_s, 1e-9)
                print(
                    f"  cached source product vs catalog product: "
                    f"{100 * (cost - 1):+.1f} % time per reply"
                )


if __name__ == "__main__":
    main()
