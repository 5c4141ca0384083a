"""#amazoncart replies under load: hashcart's X path end to end, reply posted to the X stand-in.

hashcart runs in a child process of its own (as `hashcart serve` would); this process plays X:
the load generator sends signed Account Activity deliveries (one hashtag reply with a product
link each, from a pool of linked users) and the X stand-in receives the bot's reply tweets,
verifying every OAuth 1.0a signature. Reported per database:

* replies/s: a closed loop of `--concurrency` senders for `--duration` seconds, counted until the
  last reply reached the stand-in; every twentieth delivery is a redelivery of the one before;
* CPU per request: the server process's CPU time over the closed loop and its replies ÷ requests;
* at a steady `--rate`: webhook ack p99 (from the scheduled send time) and answer p50 / p99
  (delivery sent → reply tweet at the stand-in);
* checked after the run: one cart unit (or reference row) per distinct tweet, exactly one reply
  tweet per tweet.

The reference ("bare") is plain aiohttp: check the signature, insert one row idempotently, post
one oauthlib-signed reply after the 200.

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
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import memwatch
import serve
from loadgen import LoadGenerator, percentile

from hashcart.testing import eventually
from hashcart_twitter.testing import (
    PostedTweet,
    XStandin,
    delivery,
    sign_delivery,
    tweet,
    user,
)

PRODUCTS = 1000
REFERENCE_TABLE = "reference_adds"
USERS = [user(f"bench{n}", str(1_000_000_000 + n)) for n in range(5000)]


# ---------------------------------------------------------------------------------------------
# The servers under test (child process: `bench/twitter.py _serve PORT KIND DB ENV SIZES`)
# ---------------------------------------------------------------------------------------------


async def serve_hashcart(port: int, db: str, env: dict[str, str], sizes: tuple[int, int]) -> None:
    import hashcart_twitter
    from hashcart.loop import tune_collector
    from hashcart.testing import running_hashcart

    env = {**env, "HASHCART_LOG_LEVEL": "WARNING"}
    async with running_hashcart(
        plugins=[hashcart_twitter], env=env, database_url=db, port=port
    ) as hc:
        ids = [who["id_str"] for who in USERS[: sizes[0]]]
        await serve.seed_hashcart(hc, "twitter", ids, sizes[1])
        await serve.seed_history(hc.hashcart.engine, "twitter")
        watch = memwatch.start(hc.hashcart)
        tune_collector()  # as `hashcart serve` does once started
        await serve.ready_and_wait()
        if watch is not None:
            watch.cancel()


async def serve_reference(port: int, db: str, env: dict[str, str], _sizes: tuple[int, int]) -> None:
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
        REFERENCE_TABLE,
        sa.MetaData(),
        sa.Column("tweet_id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
    )
    async with engine.begin() as conn:
        await conn.run_sync(rows.metadata.create_all)
    await serve.seed_reference_history(
        engine, rows, lambda n: {"tweet_id": f"history-{n}", "user_id": "history", "url": "-"}
    )
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
                inserted = await conn.execute(
                    serve.insert_once(
                        engine,
                        rows,
                        tweet_id=event["id_str"],
                        user_id=event["user"]["id_str"],
                        url=url,
                    )
                )
            if not inserted.rowcount:
                continue  # a redelivery
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
        await serve.ready_and_wait()
    finally:
        await runner.cleanup()
        await session.close()
        await engine.dispose()


SERVERS = {"hashcart": serve_hashcart, "reference": serve_reference}


# ---------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------


class Deliveries:
    """Builds the n-th delivery (a hashtag reply with a product link; every twentieth a
    redelivery of the one before, as X retries) and remembers when each tweet was first sent."""

    def __init__(self, x: XStandin, *, parent_links: bool, users: int) -> None:
        self.x = x
        self.parent_links = parent_links
        self.users = USERS[:users]
        self.sent_at: dict[str, float] = {}
        self.last: bytes | None = None

    def body(self, n: int) -> bytes:
        if n % 20 == 19 and self.last is not None:
            body, self.last = self.last, None
            return body
        who = self.users[n % len(self.users)]
        link = f"https://www.amazon.com/dp/{serve.asin(n % PRODUCTS)}"
        if self.parent_links:
            parent = self.x.add_tweet(tweet("Look at this", user=self.users[-1], urls=[link]))
            reply = tweet("#amazoncart", user=who, in_reply_to=parent)
        else:
            reply = tweet("#amazoncart want", user=who, urls=[link])
        self.x.add_tweet(reply)
        self.sent_at[reply["id_str"]] = time.time()
        self.last = json.dumps(delivery([reply])).encode()
        return self.last

    def sign(self, body: bytes) -> dict[str, str]:
        return {"x-twitter-webhooks-signature": sign_delivery(self.x.consumer_secret, body)}

    def replies(self) -> list[PostedTweet]:
        return [p for p in self.x.posted if p.in_reply_to in self.sent_at]


async def drain(deliveries: Deliveries, patience: float) -> None:
    with contextlib.suppress(AssertionError):
        await eventually(
            lambda: len(deliveries.replies()) >= len(deliveries.sent_at),
            timeout=patience,
            interval=0.1,
        )


async def run_server(
    kind: str, db: str, args: argparse.Namespace, profile: Path | None = None
) -> serve.Figures:
    """One server on a fresh database `db`: warm-up, closed loop, steady rate, check."""
    name = "bare" if kind == "reference" else kind
    figures = serve.Figures("X", name, "postgresql" if "postgres" in db else "sqlite")
    async with XStandin(verify_oauth=not args.no_verify) as x:
        deliveries = Deliveries(x, parent_links=args.parent_links, users=args.users)
        script_args = [kind, db, json.dumps(x.env()), f"{args.users},{PRODUCTS}"]
        with serve.child_server(Path(__file__), script_args, count=args.count) as server:
            figures.rss_idle = server.rss()
            url = f"http://127.0.0.1:{server.port}/twitter/webhook"
            async with LoadGenerator(url, deliveries.body, deliveries.sign) as load:
                await load.closed_loop(total=200, concurrency=8)  # warm-up
                await drain(deliveries, args.drain)
                replied, warm = len(x.posted), len(deliveries.sent_at)
                backends = serve.BackendsCpu(db) if "postgres" in db else None
                if backends is not None:
                    await backends.start()
                server.mark()
                with server.profile(profile) if profile else contextlib.nullcontext():
                    closed = await load.closed_loop(
                        concurrency=args.concurrency, duration=args.duration
                    )
                    await drain(deliveries, args.drain)
                    usage = server.since_mark()
                figures.rss_load = usage.rss
                figures.cpu_ms = usage.per_request_ms(closed.sent)
                figures.system_share = usage.system / usage.cpu if usage.cpu else float("nan")
                last = max((p.at for p in x.posted), default=time.time())
                figures.replies_per_s = (len(x.posted) - replied) / (last - closed.started_at)
                first_steady = len(x.posted)
                total = int(args.rate * args.rate_seconds)
                steady = await load.open_loop(rate=args.rate, total=total)
                await drain(deliveries, args.drain)
                figures.rss_load = max(figures.rss_load, server.rss())
                if figures.db == "postgresql":
                    assert backends is not None
                    await backends.stop()
                    spent = backends.seconds
                    figures.db_cpu_ms = 1000 * spent / max(len(deliveries.sent_at) - warm, 1)
                    figures.db_transactions = backends.transactions / max(
                        len(deliveries.sent_at) - warm, 1
                    )
            figures.requests = closed.sent + steady.sent
            figures.ack_p99 = steady.p(99)
            answers = [
                (p.at - deliveries.sent_at[str(p.in_reply_to)]) * 1000
                for p in x.posted[first_steady:]
                if p.in_reply_to in deliveries.sent_at
            ]
            figures.answer_p50 = percentile(answers, 50)
            figures.answer_p99 = percentile(answers, 99)
            bad = closed.sent - closed.ok + steady.sent - steady.ok
        figures.counts = server.figures.get("counts")
        figures.applied = await applied(kind, db)
        figures.checked = check(deliveries, figures.applied, bad)
        refused = Counter(c.status for c in x.calls if c.status >= 400)
        if refused:
            figures.checked += f"; X refused calls: {dict(refused)}"
    return figures


async def applied(kind: str, db: str) -> int:
    """Distinct deliveries the database holds: cart units (hashcart) or the reference's rows."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db)
    try:
        async with engine.connect() as conn:
            if kind == "hashcart":
                query = serve.CART_UNITS
            else:
                query = f"SELECT COUNT(*) FROM {REFERENCE_TABLE} WHERE user_id <> 'history'"
            return int((await conn.execute(sa.text(query))).scalar_one())
    finally:
        await engine.dispose()


def check(deliveries: Deliveries, applied: int, not_ok: int) -> str:
    problems = []
    wanted = len(deliveries.sent_at)
    if not_ok:
        problems.append(f"{not_ok} deliveries not answered with 200")
    if applied != wanted:
        problems.append(f"{applied} applied of {wanted} tweets")
    per_tweet = Counter(p.in_reply_to for p in deliveries.replies())
    if len(per_tweet) != wanted:
        problems.append(f"{wanted - len(per_tweet)} tweets without a reply")
    doubled = sum(1 for n in per_tweet.values() if n > 1)
    if doubled:
        problems.append(f"{doubled} tweets replied more than once")
    return "; ".join(problems) or "ok"


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="closed-loop seconds")
    parser.add_argument("--rate", type=float, default=250.0, help="steady deliveries/s")
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=120.0, help="max seconds to await replies")
    parser.add_argument("--users", type=int, default=5000, help="linked users (at most 5,000)")
    parser.add_argument(
        "--count", action="store_true", help="count statements and PostgreSQL round trips"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        serve.start_child()
        port, kind, db, env, sizes = sys.argv[2:7]
        users, products = (int(x) for x in sizes.split(","))
        serve.run_child(kind, SERVERS[kind](int(port), db, json.loads(env), (users, products)))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--db",
        action="append",
        help="'sqlite' (default) or a PostgreSQL admin URL, e.g. "
        "postgresql+asyncpg://postgres@127.0.0.1:5432/test; repeat to run several",
    )
    parser.add_argument(
        "--parent-links", action="store_true", help="link in the parent tweet (one lookup each)"
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="stand-in skips OAuth verification (saves CPU)"
    )
    parser.add_argument(
        "--servers",
        default="reference,hashcart",
        help="comma-separated, run in order: 'hashcart' and/or 'reference' (the bare handler: "
        "signature, one row, one reply)",
    )
    add_load_arguments(parser)
    args = parser.parse_args()
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    unknown = set(kinds) - set(SERVERS)
    if unknown:
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    print(
        f"X bench: concurrency {args.concurrency} for {args.duration:.0f} s, then "
        f"{args.rate:.0f}/s for {args.rate_seconds:.0f} s; {args.users} users, {PRODUCTS} "
        f"products; {os.cpu_count()} CPUs; links in {'parent' if args.parent_links else 'reply'}"
    )
    with tempfile.TemporaryDirectory(prefix="hashcart-bench-") as tmp:
        for spec in args.db or ["sqlite"]:
            print("sqlite:" if spec == "sqlite" else "postgresql:")
            results = {}
            for kind in kinds:
                with serve.fresh_database(spec, Path(tmp), f"x_{kind}") as db:
                    results[kind] = asyncio.run(run_server(kind, db, args))
                print_figures(results[kind])
            if "reference" in results and "hashcart" in results:
                ratio = results["hashcart"].replies_per_s / max(
                    results["reference"].replies_per_s, 1e-9
                )
                print(f"  hashcart / bare replies/s: {ratio:.2f}x")


def print_figures(figures: serve.Figures) -> None:
    print(
        f"  {figures.server:<10} {figures.replies_per_s:6.0f} replies/s, "
        f"{figures.cpu_ms:.2f} ms CPU/request | steady: ack p99 {figures.ack_p99:.1f} ms, "
        f"answer p50 {figures.answer_p50:.1f} / p99 {figures.answer_p99:.1f} ms | "
        f"RSS {figures.rss_idle >> 20} → {figures.rss_load >> 20} MiB | "
        f"{figures.applied} applied, check: {figures.checked}"
    )
    if figures.counts:
        print(f"    counts: {figures.counts}")


if __name__ == "__main__":
    main()
