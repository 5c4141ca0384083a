"""Discord reactions under load: gateway events in, one message fetch and one DM out, each.

hashcart (with the Discord plugin and its real discord.py client) runs in a child process on
SQLite (or the database `--db` names); this process plays Discord with the stand-in, whose
gateway pushes reactions as fast as the client reads them. Every reaction is on a message of its
own holding a product of its own, so each costs a REST fetch, a transaction and a DM, and each
DM names the reaction it answers.

* reactions/s — `--reactions` reactions dispatched back to back; from the first dispatch to the
  last DM received, counting only reactions answered by exactly one DM;
* p99 dispatch→DM — at a steady `--rate` reactions/s for `--duration` seconds, from the moment
  the stand-in dispatches a reaction to the moment the DM for it reaches the stand-in.

    .venv/bin/python bench/discord.py
    .venv/bin/python bench/discord.py --reactions 5000 --rate 200 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

# Run as a script, this file's folder comes first on the import path and shadows the `discord`
# package, which the Discord plugin (imported with its test kit) needs: take the folder off.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

from hashcart_discord.testing import DiscordStandin, Message, SentMessage, User  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TITLE = re.compile(r"\bP(\d{7})\b")


def asin(index: int) -> str:
    return f"B{index:09d}"


# ---------------------------------------------------------------------------------------------
# The bot under test (child process: `bench/discord.py _serve DB PRODUCTS USER_IDS`)
# ---------------------------------------------------------------------------------------------


async def serve(db: str, products: int, user_ids: list[str]) -> None:
    import hashcart_discord
    from hashcart.catalog import CatalogEntry
    from hashcart.loop import tune_collector
    from hashcart.testing import running_hashcart

    async with running_hashcart(plugins=[hashcart_discord], database_url=db) as hc:
        entries = [
            CatalogEntry(f"amazon:{asin(i)}", f"P{i:07d}", 100 + i, "USD", True)
            for i in range(products)
        ]
        await hc.hashcart.catalog.upsert(entries)
        for user_id in user_ids:
            await hc.link(f"bench-{user_id}", "discord", user_id)
        tune_collector()  # as `hashcart serve` does once started
        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


@contextlib.asynccontextmanager
async def bot_process(
    standin: DiscordStandin, products: int, users: list[User], db: str | None
) -> AsyncIterator[int]:
    """Yields the bot's process id."""
    with tempfile.TemporaryDirectory(prefix="hashcart-bench-") as folder:
        env = {
            **os.environ,
            **standin.env,
            "HASHCART_LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        db = db or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        ids = ",".join(str(user.id) for user in users)
        # -P: without it the script's folder shadows the `discord` package with this file.
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-P",
            __file__,
            "_serve",
            db,
            str(products),
            ids,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert child.stdout is not None and child.stdin is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout=120)
        if line.strip() != b"READY":
            raise RuntimeError(f"the bot did not start: {line!r}")
        try:
            yield child.pid
        finally:
            child.stdin.close()
            try:
                await asyncio.wait_for(child.wait(), timeout=30)
            except TimeoutError:
                child.kill()


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


class DmLog:
    """Which product each DM answered, and when it arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[int, list[float]] = collections.defaultdict(list)
        self.untitled = 0

    def __call__(self, sent: SentMessage) -> None:
        match = TITLE.search(sent.content)
        if match is None:
            self.untitled += 1
        else:
            self.arrivals[int(match.group(1))].append(sent.received_at)

    def answered(self, indices: range) -> int:
        return sum(1 for i in indices if i in self.arrivals)

    async def wait_for(self, indices: range, within: float) -> bool:
        deadline = time.monotonic() + within
        while self.answered(indices) < len(indices):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        await asyncio.sleep(1.0)  # let a duplicate, if any, arrive before counting
        return True


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def burst(
    standin: DiscordStandin,
    dms: DmLog,
    messages: list[Message],
    users: list[User],
    first: int,
    bot: int,
) -> dict[str, float]:
    indices = range(first, first + len(messages))
    cpu_before = cpu_seconds(bot), time.process_time()
    started = time.perf_counter()
    for offset, message in enumerate(messages):
        await standin.react(users[offset % len(users)], message)
    dispatched = time.perf_counter() - started
    complete = await dms.wait_for(indices, within=120)
    once = [i for i in indices if len(dms.arrivals.get(i, ())) == 1]
    last = max((dms.arrivals[i][0] for i in indices if i in dms.arrivals), default=math.inf)
    bot_cpu, standin_cpu = cpu_seconds(bot) - cpu_before[0], time.process_time() - cpu_before[1]
    return {
        "bot_cpu_ms": 1000 * bot_cpu / len(messages),
        "standin_cpu_ms": 1000 * standin_cpu / len(messages),
        "reactions": len(messages),
        "complete": float(complete),
        "exactly_one_dm": len(once),
        "dispatch_s": dispatched,
        "elapsed_s": last - started,
        "reactions_per_s": len(once) / (last - started),
    }


async def steady(
    standin: DiscordStandin,
    dms: DmLog,
    messages: list[Message],
    users: list[User],
    first: int,
    rate: float,
) -> dict[str, float]:
    indices = range(first, first + len(messages))
    dispatched: dict[int, float] = {}
    start = time.perf_counter()
    for offset, message in enumerate(messages):
        due = start + offset / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        dispatched[first + offset] = time.perf_counter()
        await standin.react(users[offset % len(users)], message)
    achieved = len(messages) / (time.perf_counter() - start)
    complete = await dms.wait_for(indices, within=120)
    latencies = sorted(
        (dms.arrivals[i][0] - dispatched[i]) * 1000 for i in indices if i in dms.arrivals
    ) or [math.inf]
    once = sum(1 for i in indices if len(dms.arrivals.get(i, ())) == 1)
    return {
        "reactions": len(messages),
        "complete": float(complete),
        "exactly_one_dm": once,
        "rate_achieved": achieved,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)],
        "max_ms": latencies[-1],
    }


async def main(args: argparse.Namespace) -> None:
    steady_count = int(args.rate * args.duration)
    total = args.reactions + steady_count
    async with DiscordStandin() as standin:
        users = [standin.add_user(f"shopper{n}") for n in range(args.users)]
        channel = standin.add_channel(standin.add_guild("bench"), "deals")
        messages = [
            standin.post_message(
                channel, users[i % len(users)], f"deal https://www.amazon.com/dp/{asin(i)}"
            )
            for i in range(total)
        ]
        dms = DmLog()
        standin.on_sent = dms
        print(f"starting the bot: {total} products, {len(users)} linked users …", flush=True)
        async with bot_process(standin, total, users, args.db) as bot:
            await standin.wait_connected(within=30)
            warm = await burst(standin, dms, messages[:50], users, 0, bot)  # connections, caches
            assert warm["complete"], "warm-up reactions were not answered"
            first = 50
            load = await burst(standin, dms, messages[first : args.reactions], users, first, bot)
            paced = await steady(
                standin, dms, messages[args.reactions :], users, args.reactions, args.rate
            )
        print_results(load, paced, dms, args)


def print_results(
    load: dict[str, float], paced: dict[str, float], dms: DmLog, args: argparse.Namespace
) -> None:
    print(
        f"burst:  {int(load['reactions'])} reactions, {int(load['exactly_one_dm'])} with exactly "
        f"one DM, dispatched in {load['dispatch_s']:.2f} s, last DM after "
        f"{load['elapsed_s']:.2f} s -> {load['reactions_per_s']:.0f} reactions/s applied; CPU "
        f"per reaction: bot {load['bot_cpu_ms']:.2f} ms, stand-in {load['standin_cpu_ms']:.2f} ms"
    )
    print(
        f"steady: {int(paced['reactions'])} reactions at {paced['rate_achieved']:.0f}/s "
        f"(asked {args.rate:.0f}/s), {int(paced['exactly_one_dm'])} with exactly one DM; "
        f"dispatch->DM p50 {paced['p50_ms']:.1f} ms, p99 {paced['p99_ms']:.1f} ms, "
        f"max {paced['max_ms']:.1f} ms"
    )
    duplicates = sum(1 for times in dms.arrivals.values() if len(times) > 1)
    print(f"DMs answering no known reaction: {dms.untitled}; reactions with >1 DM: {duplicates}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reactions", type=int, default=3000, help="burst size (incl. 50 warm-up)")
    parser.add_argument("--rate", type=float, default=200.0, help="steady reactions per second")
    parser.add_argument("--duration", type=float, default=10.0, help="steady phase, seconds")
    parser.add_argument("--users", type=int, default=200, help="linked Discord users")
    parser.add_argument("--db", help="a migrated database's URL (default: a new SQLite file)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        _, _, database, product_count, id_list = sys.argv
        from hashcart.config import Settings
        from hashcart.loop import run

        bot = serve(database, int(product_count), id_list.split(","))
        choice = Settings().event_loop  # the loop `hashcart serve` picks: uvloop unless told
        profile = os.environ.get("BENCH_PROFILE")  # a path: write cProfile stats of the bot
        if profile:
            import cProfile

            cProfile.runctx("run(bot, choice)", globals(), locals(), profile)
        else:
            run(bot, choice)
    else:
        asyncio.run(main(parse(sys.argv[1:])))
