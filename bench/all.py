"""The side-by-side table of issue 17 in one pass (`make bench`): references and hashcart, both
databases, the ratios against the targets marked met or not met.

For each database (SQLite, then PostgreSQL; a fresh `hashcart_bench_*` database per server):
Slack bare / plain Bolt / hashcart, then X bare / hashcart, each in a child process of its own
(`slack.py`, `twitter.py`): a closed loop at c = 32 with every twentieth request a redelivery,
5,000 linked users and 1,000 products, then a steady 250/s open loop; every request is a real
write, checked against the database and the replies after the run. Then Discord (`discord.py`,
each database): a burst and a steady 200/s.

Statements and PostgreSQL round trips are counted in every server (`roundtrips.py`; the
references too, so the comparison stays fair) and reported per applied command, with the
PostgreSQL backends' CPU per command and the projection it gives of nodes per database core.

    .venv/bin/python bench/all.py                  # the whole table, ~10 minutes
    .venv/bin/python bench/all.py --quick          # shorter phases, ~5 minutes
    .venv/bin/python bench/all.py --profile out/   # also py-spy top entries of each hashcart run
    .venv/bin/python bench/all.py --minutes 10     # memory growth of a node under steady load
    .venv/bin/python bench/all.py --only-discord   # Discord alone (`--db` as for the table)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import serve
import slack
import twitter

BENCH = Path(__file__).resolve().parent

# (path, server kind in its script, runner)
RUNS = [
    ("Slack", "bare", slack.run_server),
    ("Slack", "bolt", slack.run_server),
    ("Slack", "hashcart", slack.run_server),
    ("X", "reference", twitter.run_server),
    ("X", "hashcart", twitter.run_server),
]


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="shorter phases (about half)")
    parser.add_argument("--profile", type=Path, help="folder for py-spy profiles of hashcart")
    parser.add_argument(
        "--servers", default="bare,bolt,hashcart", help="which of bare, bolt, hashcart to run"
    )
    parser.add_argument("--no-count", dest="count", action="store_false", default=True)
    parser.add_argument("--no-discord", dest="discord", action="store_false", default=True)
    parser.add_argument("--only-discord", action="store_true", help="skip Slack and X")
    parser.add_argument(
        "--minutes", type=float, help="instead of the table: X at 100/s this long, memory growth"
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, help="closed-loop seconds (10, quick 5)")
    parser.add_argument("--rate", type=float, default=250.0)
    parser.add_argument("--rate-seconds", type=float, help="steady seconds (10, quick 4)")
    parser.add_argument("--drain", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument(
        "--history",
        type=int,
        default=serve.HISTORY,
        help="past commands in each database before the run (0: a fresh, empty database)",
    )
    args = parser.parse_args()
    os.environ["BENCH_HISTORY"] = str(args.history)  # read by the servers, children of this one
    args.duration = args.duration or (5.0 if args.quick else 10.0)
    args.rate_seconds = args.rate_seconds or (4.0 if args.quick else 10.0)
    args.parent_links = False
    args.no_verify = False
    return args


def run_table(args: argparse.Namespace) -> list[serve.Figures]:
    rows = []
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory(prefix="hashcart-bench-") as tmp:
        for db_kind in kinds:
            for path, kind, runner in RUNS:
                if ("bare" if kind == "reference" else kind) not in args.servers.split(","):
                    continue
                profile = None
                if args.profile and kind == "hashcart":
                    args.profile.mkdir(parents=True, exist_ok=True)
                    profile = args.profile / f"{path.lower()}-{db_kind}.raw"
                with serve.fresh_database(db_kind, Path(tmp), f"{path}_{kind}".lower()) as db:
                    figures = asyncio.run(runner(kind, db, args, profile))
                if profile is not None and profile.exists():
                    figures.profile = serve.top_entries(profile)
                    profile.with_suffix(".txt").write_text(figures.profile)
                rows.append(figures)
                print(f"  {path} {figures.server} on {db_kind}: {one_line(figures)}", flush=True)
    return rows


def one_line(f: serve.Figures) -> str:
    return (
        f"{f.replies_per_s:.0f} replies/s, {f.cpu_ms:.2f} ms CPU/request, ack p99 "
        f"{f.ack_p99:.1f} ms, answer p50/p99 {f.answer_p50:.1f}/{f.answer_p99:.1f} ms, "
        f"{f.applied} applied, check {f.checked}"
    )


def discord(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Runs discord.py on each database and reads its figures from what it prints."""
    reactions, duration = (1500, 5) if args.quick else (3000, 10)
    figures = {}
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        with (
            tempfile.TemporaryDirectory(prefix="hashcart-bench-") as tmp,
            serve.fresh_database(kind, Path(tmp), "discord") as db,
        ):
            out = subprocess.run(
                [sys.executable, "-P", str(BENCH / "discord.py"), "--reactions", str(reactions),
                 "--rate", "200", "--duration", str(duration), "--db", db],
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
        print(f"Discord on {kind}:\n{out.stdout.rstrip() or out.stderr[-2000:]}", flush=True)
        burst = re.search(r"-> (\d+) reactions/s applied", out.stdout)
        p99 = re.search(r"dispatch->DM p50 [\d.]+ ms, p99 ([\d.]+) ms", out.stdout)
        duplicates = re.search(r"reactions with >1 DM: (\d+)", out.stdout)
        figures[kind] = {
            "burst": float(burst.group(1)) if burst else math.nan,
            "p99": float(p99.group(1)) if p99 else math.nan,
            "duplicates": float(duplicates.group(1)) if duplicates else math.nan,
        }
    return figures


# ---------------------------------------------------------------------------------------------
# The table and the targets
# ---------------------------------------------------------------------------------------------


def mib(n: int) -> str:
    return f"{n / 2**20:.0f}"


def per_command(f: serve.Figures, key: str) -> float:
    if not f.counts or not f.applied:
        return math.nan
    return float(f.counts[key]) / f.applied


def print_table(rows: list[serve.Figures]) -> None:
    print()
    print(
        "| path | server | database | replies/s | CPU ms/request (kernel %) | ack p99 ms (250/s) | "
        "answer p50 / p99 ms | RSS idle → load MiB | statements / cmd | PG round trips / cmd | "
        "PG transactions / cmd | PG CPU ms / cmd | checked |"
    )
    print("| --- " * 13 + "|")
    for f in rows:
        trips = per_command(f, "round_trips") if f.db == "postgresql" else math.nan
        print(
            f"| {f.path} | {f.server} | {f.db} | {f.replies_per_s:,.0f} | {f.cpu_ms:.2f} "
            f"({100 * f.system_share:.0f} %) | "
            f"{f.ack_p99:.1f} | {f.answer_p50:.1f} / {f.answer_p99:.1f} | "
            f"{mib(f.rss_idle)} → {mib(f.rss_load)} | {per_command(f, 'statements'):.2f} | "
            f"{'' if math.isnan(trips) else f'{trips:.2f}'} | "
            f"{'' if math.isnan(f.db_transactions) else f'{f.db_transactions:.2f}'} | "
            f"{'' if math.isnan(f.db_cpu_ms) else f'{f.db_cpu_ms:.2f}'} | {f.checked} |"
        )


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def print_targets(
    rows: list[serve.Figures], discord_figures: dict[str, dict[str, float]] | None
) -> None:
    find = {(f.path, f.server, f.db): f for f in rows}
    print()
    print("targets:")
    for db in ("sqlite", "postgresql"):
        x, x_bare = find.get(("X", "hashcart", db)), find.get(("X", "bare", db))
        s, s_bare = find.get(("Slack", "hashcart", db)), find.get(("Slack", "bare", db))
        bolt = find.get(("Slack", "plain Bolt", db))
        if x and x_bare:
            ratio = x.replies_per_s / x_bare.replies_per_s
            print(f"  {db}: X {ratio:.2f}x bare (≥ 0.8): {verdict(ratio >= 0.8)}")
        if s and bolt:
            ratio = s.replies_per_s / bolt.replies_per_s
            print(f"  {db}: Slack {ratio:.2f}x plain Bolt (≥ 1.6): {verdict(ratio >= 1.6)}")
        if s and s_bare:
            ratio = s.replies_per_s / s_bare.replies_per_s
            print(f"  {db}: Slack {ratio:.2f}x bare (≥ 0.8): {verdict(ratio >= 0.8)}")
        for f in (s, x):
            if f is None:
                continue
            print(
                f"  {db}: {f.path} ack p99 {f.ack_p99:.1f} ms (< 20): {verdict(f.ack_p99 < 20)}; "
                f"answer p99 {f.answer_p99:.1f} ms (< 50): {verdict(f.answer_p99 < 50)}"
            )
        if s and bolt:
            print(
                f"  {db}: Slack CPU/request {s.cpu_ms:.2f} ms vs plain Bolt {bolt.cpu_ms:.2f} ms "
                f"(≤): {verdict(s.cpu_ms <= bolt.cpu_ms)}"
            )
        if db == "postgresql":
            for f in (s, x):
                if f is None:
                    continue
                trips = per_command(f, "round_trips")
                if not math.isnan(trips):
                    print(
                        f"  postgresql: {f.path} round trips per applied command {trips:.2f} "
                        f"(≤ 1): {verdict(trips <= 1)}; {projection(f)}"
                    )
    for db, figures in (discord_figures or {}).items():
        burst, p99 = figures["burst"], figures["p99"]
        print(f"  {db}: Discord burst {burst:.0f} reactions/s (≥ 1,000): {verdict(burst >= 1000)}")
        print(f"  {db}: Discord dispatch → DM p99 at 200/s {p99:.0f} ms (< 100): ", end="")
        print(verdict(p99 < 100))
    for f in rows:
        if f.server == "hashcart":
            print(
                f"  memory: hashcart {f.path} on {f.db}: {mib(f.rss_idle)} MiB idle (seeded), "
                f"{mib(f.rss_load)} MiB under load"
            )
    failed = [f for f in rows if f.checked != "ok"]
    for f in failed:
        print(f"  CHECK FAILED: {f.path} {f.server} on {f.db}: {f.checked}")


def projection(f: serve.Figures) -> str:
    """How many nodes like this one a database core carries: one core does 1 / (backend CPU per
    command) commands a second; a node sends its replies/s of them."""
    if math.isnan(f.db_cpu_ms) or f.db_cpu_ms <= 0 or not f.replies_per_s:
        return "no PostgreSQL CPU figure"
    per_core = 1000 / f.db_cpu_ms
    return (
        f"PostgreSQL CPU {f.db_cpu_ms:.2f} ms per command → {per_core:,.0f} commands/s per "
        f"database core ≈ {per_core / f.replies_per_s:.1f} nodes at {f.replies_per_s:,.0f}/s each"
    )


# ---------------------------------------------------------------------------------------------
# Memory growth
# ---------------------------------------------------------------------------------------------


async def growth(args: argparse.Namespace, db: str) -> None:
    """A hashcart X node at a steady 100/s for `--minutes`, its resident memory every 30 s."""
    from loadgen import LoadGenerator

    from hashcart_twitter.testing import XStandin

    async with XStandin() as x:
        deliveries = twitter.Deliveries(x, parent_links=False, users=args.users)
        script_args = ["hashcart", db, json.dumps(x.env()), f"{args.users},1000"]
        with serve.child_server(BENCH / "twitter.py", script_args) as server:
            url = f"http://127.0.0.1:{server.port}/twitter/webhook"
            samples = [server.rss()]
            print(f"  idle: {mib(samples[0])} MiB", flush=True)
            ends = time.monotonic() + 60 * args.minutes
            async with LoadGenerator(url, deliveries.body, deliveries.sign) as load:
                while time.monotonic() < ends:
                    cpu = time.process_time()
                    result = await load.open_loop(rate=100, total=3000)
                    samples.append(server.rss())
                    # This process is the load and X: when it runs out of CPU, the node waits.
                    print(
                        f"  {len(samples) - 1:3d} × 30 s: {mib(samples[-1])} MiB "
                        f"({result.ok}/{result.sent} ok in {result.seconds:.0f} s; replies "
                        f"{len(x.posted)}/{len(deliveries.sent_at)}; load and X CPU "
                        f"{100 * (time.process_time() - cpu) / result.seconds:.0f} %)",
                        flush=True,
                    )
            await twitter.drain(deliveries, args.drain)
        warm = samples[min(2, len(samples) - 1)]  # after the first minute
        print(
            f"  memory after the first minute {mib(warm)} MiB, at the end {mib(samples[-1])} "
            f"MiB ({100 * (samples[-1] / warm - 1):+.1f} %); replies "
            f"{len(deliveries.replies())}/{len(deliveries.sent_at)}"
        )


def main() -> None:
    args = parse()
    if args.minutes:
        kind = "postgresql" if args.db == "postgresql" else "sqlite"
        print(f"memory growth: one hashcart X node on {kind}, 100/s for {args.minutes:g} min")
        with (
            tempfile.TemporaryDirectory(prefix="hashcart-bench-") as tmp,
            serve.fresh_database(kind, Path(tmp), "growth") as db,
        ):
            asyncio.run(growth(args, db))
        return
    print(
        f"hashcart bench: c = {args.concurrency} for {args.duration:.0f} s, 5 % redeliveries, "
        f"{args.users} users, {args.products} products; steady {args.rate:.0f}/s for "
        f"{args.rate_seconds:.0f} s; {os.cpu_count()} CPUs; load average "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    started = time.monotonic()
    rows = [] if args.only_discord else run_table(args)
    discord_figures = discord(args) if args.discord else None
    if rows:
        print_table(rows)
    print_targets(rows, discord_figures)
    if args.profile:
        print(f"\nprofiles (py-spy, the closed loop of each hashcart run) in {args.profile}/")
        for f in rows:
            if f.profile:
                print(f"\n{f.path} on {f.db}:\n{f.profile}")
    print(f"\n{time.monotonic() - started:.0f} s; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
