"""#amazoncart replies under load: hashcart's X path end to end, reply posted to the X stand-in.

hashcart runs in a child process of its own (as `hashcart serve` would); this process plays X:
the load generator sends signed Account Activity deliveries (one hashtag reply with a product
link each, from a pool of linked users) and the X stand-in receives the bot's reply tweets,
verifying every OAuth 1.0a signature. Reported per database:

* closed loop: deliveries/s over `--total` deliveries at `--concurrency`, and end-to-end
  replies/s (until the last reply reached the stand-in);
* open loop: webhook latency p50/p99 at a steady `--rate`, counted from the scheduled send time;
* exactly once: every delivered tweet got exactly one reply tweet.

    .venv/bin/python bench/twitter.py                      # SQLite
    .venv/bin/python bench/twitter.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from loadgen import LoadGenerator, LoadResult, percentile

from hashcart_twitter.testing import (
    XStandin,
    delivery,
    sign_delivery,
    tweet,
    user,
)

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = [f"B0BENCH{n:03d}" for n in range(50)]
USERS = [user(f"bench{n}", str(1_000_000_000 + n)) for n in range(500)]


# ---------------------------------------------------------------------------------------------
# The server under test (child process: `bench/twitter.py _serve DB PORT ENV_JSON`)
# ---------------------------------------------------------------------------------------------


async def serve(db: str, port: int, env: dict[str, str]) -> None:
    import hashcart_twitter
    from hashcart.testing import running_hashcart

    env = {**env, "HASHCART_LOG_LEVEL": "WARNING"}
    async with running_hashcart(
        plugins=[hashcart_twitter], env=env, database_url=db, port=port
    ) as hc:
        for n, asin in enumerate(PRODUCTS):
            await hc.add_product(f"amazon:{asin}", title=f"Bench gadget {n}", price_cents=999 + n)
        for who in USERS:
            await hc.link(who["screen_name"], "twitter", who["id_str"])
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def serve_reference(db: str, port: int, env: dict[str, str]) -> None:
    """The yardstick from issue 3: check the signature, insert one row, post one reply.

    Written the way a developer would without hashcart: one aiohttp handler, SQLAlchemy core
    (hashcart's engine settings), and an oauthlib-signed reply sent after the 200.
    """
    import aiohttp
    import sqlalchemy as sa
    from aiohttp import web
    from oauthlib.oauth1 import Client

    from hashcart.store import create_engine

    engine = create_engine(db)
    rows = sa.Table(
        "reference_adds",
        sa.MetaData(),
        sa.Column("tweet_id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
    )
    async with engine.begin() as conn:
        await conn.run_sync(rows.metadata.create_all)
    secret = env["HASHCART_TWITTER_CONSUMER_SECRET"]
    signer = Client(
        env["HASHCART_TWITTER_CONSUMER_KEY"],
        client_secret=secret,
        resource_owner_key=env["HASHCART_TWITTER_ACCESS_TOKEN"],
        resource_owner_secret=env["HASHCART_TWITTER_ACCESS_TOKEN_SECRET"],
    )
    post_url = env["HASHCART_TWITTER_API_URL"] + "/2/tweets"
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    background: set[asyncio.Task[None]] = set()

    async def reply(tweet_id: str, screen_name: str) -> None:
        _, headers, _ = signer.sign(post_url, http_method="POST")
        text = f"@{screen_name} added it to your cart ({tweet_id})"  # unique: X refuses repeats
        body = {"text": text, "reply": {"in_reply_to_tweet_id": tweet_id}}
        async with session.post(post_url, json=body, headers=headers) as resp:
            await resp.read()

    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        given = request.headers.get("x-twitter-webhooks-signature", "")
        if not hmac.compare_digest(given.encode(), sign_delivery(secret, raw).encode()):
            return web.json_response({"error": "bad signature"}, status=401)
        for event in json.loads(raw).get("tweet_create_events", []):
            url = event["entities"]["urls"][0]["expanded_url"]
            async with engine.begin() as conn:
                await conn.execute(
                    rows.insert().values(
                        tweet_id=event["id_str"], user_id=event["user"]["id_str"], url=url
                    )
                )
            task = asyncio.create_task(reply(event["id_str"], event["user"]["screen_name"]))
            background.add(task)
            task.add_done_callback(background.discard)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/twitter/webhook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await runner.cleanup()
        await session.close()
        await engine.dispose()


SERVERS = {"hashcart": serve, "reference": serve_reference}


@contextlib.contextmanager
def child_server(kind: str, db: str, env: dict[str, str]) -> Iterator[str]:
    """One server in its own process; yields its webhook URL; stops it when stdin closes."""
    from hashcart.testing.harness import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "_serve", kind, db, str(port), json.dumps(env)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{kind} did not start (exit {proc.poll()})")
        yield f"http://127.0.0.1:{port}/twitter/webhook"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------


@dataclass
class Phase:
    tweet_ids: list[str]
    replies_per_second: float
    reply_ms: list[float]
    exactly_once: bool
    missing: int


class Deliveries:
    """Builds the n-th delivery (a hashtag reply with a product link) and remembers its tweet."""

    def __init__(self, x: XStandin, *, parent_links: bool) -> None:
        self.x = x
        self.parent_links = parent_links
        self.sent_at: dict[str, float] = {}
        self.ids: list[str] = []

    def body(self, n: int) -> bytes:
        who = USERS[n % len(USERS)]
        link = f"https://www.amazon.com/dp/{PRODUCTS[n % len(PRODUCTS)]}"
        if self.parent_links:
            parent = self.x.add_tweet(tweet("Look at this", user=USERS[-1], urls=[link]))
            reply = tweet("#amazoncart", user=who, in_reply_to=parent)
        else:
            reply = tweet("#amazoncart want", user=who, urls=[link])
        self.x.add_tweet(reply)
        self.ids.append(reply["id_str"])
        self.sent_at[reply["id_str"]] = time.time()
        return json.dumps(delivery([reply])).encode()

    def sign(self, body: bytes) -> dict[str, str]:
        return {"x-twitter-webhooks-signature": sign_delivery(self.x.consumer_secret, body)}


async def settle(x: XStandin, deliveries: Deliveries, start: int, drain: float) -> Phase:
    """Wait until every tweet from index `start` on has its reply (or `drain` runs out)."""
    ids = deliveries.ids[start:]
    wanted = set(ids)
    deadline = time.monotonic() + drain
    while time.monotonic() < deadline:
        if sum(1 for p in x.posted if p.in_reply_to in wanted) >= len(wanted):
            break
        await asyncio.sleep(0.05)
    replies = [p for p in x.posted if p.in_reply_to in wanted]
    per_tweet = Counter(p.in_reply_to for p in replies)
    exactly_once = set(per_tweet) == wanted and all(n == 1 for n in per_tweet.values())
    reply_ms = [(p.at - deliveries.sent_at[str(p.in_reply_to)]) * 1000 for p in replies]
    first = min(deliveries.sent_at[i] for i in ids) if ids else 0.0
    last = max((p.at for p in replies), default=first)
    rate = len(replies) / (last - first) if last > first else 0.0
    return Phase(
        ids,
        rate,
        reply_ms,
        exactly_once,
        len(wanted - set(per_tweet)),
    )


async def run(kind: str, db: str, args: argparse.Namespace) -> None:
    print(f" {kind}:")
    async with XStandin(verify_oauth=not args.no_verify) as x:
        deliveries = Deliveries(x, parent_links=args.parent_links)
        with child_server(kind, db, x.env()) as url:
            async with LoadGenerator(url, deliveries.body, deliveries.sign) as load:
                await load.closed_loop(total=200, concurrency=8)  # warm-up
                await settle(x, deliveries, 0, args.drain)

                start = len(deliveries.ids)
                closed = await load.closed_loop(total=args.total, concurrency=args.concurrency)
                phase = await settle(x, deliveries, start, args.drain)
                report(f"closed loop, concurrency {args.concurrency}", closed, phase)

                start = len(deliveries.ids)
                total = int(args.rate * args.rate_seconds)
                steady = await load.open_loop(rate=args.rate, total=total)
                phase = await settle(x, deliveries, start, args.drain)
                report(f"open loop, {args.rate:.0f}/s", steady, phase)
        failed = [c for c in x.calls if c.status >= 400]
        if failed:
            print(f"  X stand-in refused {len(failed)} calls: {Counter(c.status for c in failed)}")


def report(label: str, load: LoadResult, phase: Phase) -> None:
    print(f"  {load.summary(label)}")
    p50, p99 = percentile(phase.reply_ms, 50), percentile(phase.reply_ms, 99)
    print(
        f"    end to end: {phase.replies_per_second:.0f} replies/s; reply latency "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms; "
        f"every reply posted exactly once: {'yes' if phase.exactly_once else 'NO'}"
        + (f" ({phase.missing} missing)" if phase.missing else "")
    )


@contextlib.contextmanager
def database(spec: str, folder: Path) -> Iterator[str]:
    """A fresh migrated database: a SQLite file, or a new database on the given PostgreSQL."""
    from hashcart.store.migrate import upgrade_sync

    if spec == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        upgrade_sync(url)
        yield url
        return
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"hashcart_bench_x_{secrets.token_hex(3)}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(spec, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text(sql))
        finally:
            await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = spec.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade_sync(url)
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        kind, db, port, env = sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5])
        serve_it = SERVERS[kind]
        profile = os.environ.get("BENCH_PROFILE")  # a file name: profile the server
        if profile:
            from pyinstrument import Profiler  # a dev tool, not a dependency of the bench

            with Profiler(async_mode="disabled") as profiler:
                asyncio.run(serve_it(db, port, env))
            Path(profile).write_text(profiler.output_text(show_all=False, unicode=False))
        else:
            asyncio.run(serve_it(db, port, env))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--db",
        action="append",
        help="'sqlite' (default) or a PostgreSQL admin URL, e.g. "
        "postgresql+asyncpg://postgres@127.0.0.1:5432/test; repeat to run several",
    )
    parser.add_argument("--total", type=int, default=3000, help="closed-loop deliveries")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=250.0, help="open-loop deliveries/s")
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=120.0, help="max seconds to await replies")
    parser.add_argument(
        "--parent-links", action="store_true", help="link in the parent tweet (one lookup each)"
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="stand-in skips OAuth verification (saves CPU)"
    )
    parser.add_argument(
        "--servers",
        default="hashcart",
        help="comma-separated, run in order: 'hashcart' and/or 'reference' (issue 3's bare "
        "handler: signature, one row, one reply), e.g. reference,hashcart",
    )
    args = parser.parse_args()
    unknown = {k.strip() for k in args.servers.split(",")} - set(SERVERS)
    if unknown:
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    print(
        f"X bench: {args.total} deliveries at concurrency {args.concurrency}, then "
        f"{args.rate:.0f}/s for {args.rate_seconds:.0f} s; {os.cpu_count()} CPUs; "
        f"links in {'parent' if args.parent_links else 'reply'}"
    )
    with tempfile.TemporaryDirectory(prefix="hashcart-bench-") as tmp:
        for spec in args.db or ["sqlite"]:
            print("sqlite:" if spec == "sqlite" else "postgresql:")
            for kind in [k.strip() for k in args.servers.split(",") if k.strip()]:
                with database(spec, Path(tmp) / kind) as db:
                    asyncio.run(run(kind, db, args))


if __name__ == "__main__":
    main()
