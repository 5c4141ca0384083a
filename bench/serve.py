"""A server under test in a child process of its own, and what it costs while it serves.

The platform benchmarks start each server (hashcart or a reference) as `python bench/<x>.py
_serve ...`, so the load generator and the stand-ins never share its event loop or its CPU
figures. The child prints `ready` once it listens and stops when its stdin closes; before it
exits it prints one `figures {json}` line (round trips counted in bench mode, its peak memory).

The parent reads the child's CPU time and resident memory from `/proc/<pid>` (Linux), so CPU per
request is the server's own user + system time over a phase divided by the requests of that
phase; the load generator's CPU is not in it. `profile()` samples the child with py-spy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import roundtrips

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PY_SPY = Path(sys.executable).parent / "py-spy"


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS  # utime, stime


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


@dataclass
class Usage:
    """What a server spent between two readings."""

    cpu: float
    system: float  # the part of `cpu` spent in the kernel (sockets, mostly)
    seconds: float
    rss: int

    def per_request_ms(self, requests: int) -> float:
        return 1000 * self.cpu / requests if requests else float("nan")


class ServerProcess:
    """A running child server: its URL's port, its pid, and readings of what it uses."""

    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.port = port
        self.figures: dict[str, Any] = {}
        self.peak_rss = 0
        self._mark = (*cpu_times(proc.pid), time.perf_counter())

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> int:
        value = rss_bytes(self.pid)
        self.peak_rss = max(self.peak_rss, value)
        return value

    def mark(self) -> None:
        """Start a reading: `since_mark()` reports what was used from now on."""
        self._mark = (*cpu_times(self.pid), time.perf_counter())

    def since_mark(self) -> Usage:
        user, system, at = self._mark
        user_now, system_now = cpu_times(self.pid)
        return Usage(
            user_now + system_now - user - system,
            system_now - system,
            time.perf_counter() - at,
            self.rss(),
        )

    @contextlib.contextmanager
    def profile(self, out: Path, rate: int = 100) -> Iterator[None]:
        """Sample the child with py-spy while the block runs; collapsed stacks go to `out`.

        `--gil`: only the thread holding the GIL is sampled, so a thread that waits (aiosqlite's
        worker polling its queue) is not counted as busy; time in the kernel with the GIL
        released (socket writes) is left out too, it shows as the kernel share of the CPU."""
        spy = subprocess.Popen(
            [str(PY_SPY), "record", "--pid", str(self.pid), "--format", "raw", "--rate",
             str(rate), "--gil", "--nonblocking", "-o", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()


@contextlib.contextmanager
def child_server(
    script: Path, args: Sequence[str], *, env: dict[str, str] | None = None, count: bool = False
) -> Iterator[ServerProcess]:
    """`python <script> _serve <port> <args...>`; yields once it printed `ready`.

    `count` sets `BENCH_ROUND_TRIPS=1` in the child: it counts its statements and database
    round trips from `ready` on and reports them in its `figures` line.
    """
    from hashcart.testing.harness import free_port

    port = free_port()
    child_env = {
        **os.environ,
        **(env or {}),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    if count:
        child_env["BENCH_ROUND_TRIPS"] = "1"
    proc = subprocess.Popen(
        [sys.executable, str(script), "_serve", str(port), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env,
    )
    server = None
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"{script.name} server did not start (exit {proc.poll()})")
        server = ServerProcess(proc, port)
        yield server
    finally:
        try:
            out, _ = proc.communicate(timeout=60)  # closes stdin: the child stops
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        for line in (out or "").splitlines():
            if line.startswith("figures ") and server is not None:
                server.figures = json.loads(line.removeprefix("figures "))


# ---------------------------------------------------------------------------------------------
# The child's side
# ---------------------------------------------------------------------------------------------


def counting() -> bool:
    return os.environ.get("BENCH_ROUND_TRIPS") == "1"


def start_child() -> None:
    """Call first thing in `_serve`: installs the round-trip counter in bench mode only."""
    if counting():
        roundtrips.install()


def run_child(kind: str, main: Coroutine[Any, Any, None]) -> None:
    """hashcart on the loop `hashcart serve` picks (uvloop unless `HASHCART_EVENT_LOOP=asyncio`);
    the references on the standard loop, as their docs run them."""
    if kind.startswith("hashcart"):
        from hashcart.config import Settings
        from hashcart.loop import run

        run(main, Settings().event_loop)
    else:
        asyncio.run(main)


async def ready_and_wait() -> None:
    """Tell the parent the server listens, serve until stdin closes, then print the figures."""
    if counting():
        roundtrips.COUNTER.reset()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    figures: dict[str, Any] = {"max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if counting():
        figures["counts"] = roundtrips.COUNTER.as_dict()
    print("figures " + json.dumps(figures), flush=True)


async def seed_hashcart(hc: Any, platform: str, user_ids: Sequence[str], products: int) -> None:
    """Link `user_ids` (one account each) and put `products` products in the catalog, in bulk:
    thousands of one-by-one links would take longer than the run they set up."""
    import sqlalchemy as sa

    from hashcart.catalog import CatalogEntry
    from hashcart.store.schema import accounts, identities

    now = time.time()
    async with hc.hashcart.engine.begin() as conn:
        await conn.execute(
            sa.insert(accounts),
            [{"id": f"bench{n:08d}", "name": f"bench-{n}", "created_at": now} for n in
             range(len(user_ids))],
        )  # fmt: skip
        await conn.execute(
            sa.insert(identities),
            [
                {"platform": platform, "user_id": user, "account_id": f"bench{n:08d}",
                 "created_at": now}
                for n, user in enumerate(user_ids)
            ],
        )  # fmt: skip
    await hc.hashcart.catalog.upsert(
        [
            CatalogEntry(f"amazon:{asin(n)}", f"Bench gadget {n}", 999 + n, "USD", True)
            for n in range(products)
        ]
    )


#: Past commands a database "in use" holds before a run (`all.py --history`, passed to the
#: servers as `BENCH_HISTORY`): the events, sent replies and cart lines of accounts outside the
#: run, so the tables the run writes are not empty when its statements are first planned.
HISTORY = 20_000


#: The cart units of the run's own accounts (`seed_hashcart`), the history's left out.
CART_UNITS = "SELECT COALESCE(SUM(quantity), 0) FROM cart_items WHERE account_id LIKE 'bench%'"


def history() -> int:
    return int(os.environ.get("BENCH_HISTORY", HISTORY))


async def seed_history(engine: Any, platform: str) -> None:
    """`history()` past commands of a tenth as many other accounts, then ANALYZE.

    A fresh database has empty `events`, `outbox` and `cart_items` tables. PostgreSQL plans a
    prepared statement from the table's size when it is first run and keeps that plan for the
    connection: against an empty table a scan of the whole table is cheapest, and it stays
    chosen while the table grows under the run (autovacuum, which would make the connections
    plan again, looks at a table about once a minute). A database that has been in use has
    history and statistics, and that is what a node normally runs against."""
    import sqlalchemy as sa

    from hashcart.store.schema import accounts, cart_items, events, identities, outbox

    count = history()
    if count <= 0:
        return
    now = time.time() - 86_400
    owners = [f"history{n:07d}" for n in range(max(1, count // 10))]
    users = [f"history-user-{n}" for n in range(len(owners))]
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(accounts),
            [{"id": owner, "name": owner, "created_at": now} for owner in owners],
        )
        await conn.execute(
            sa.insert(identities),
            [{"platform": platform, "user_id": user, "account_id": owner, "created_at": now}
             for user, owner in zip(users, owners, strict=True)],
        )  # fmt: skip
        past = [(n, owners[n % len(owners)], users[n % len(owners)]) for n in range(count)]
        await conn.execute(
            sa.insert(events),
            [{"event_key": f"{platform}:history-{n}", "platform": platform, "user_id": user,
              "account_id": owner, "action": "add", "product_id": f"amazon:{asin(n % 1000)}",
              "outcome": "added", "created_at": now + n * 0.01}
             for n, owner, user in past],
        )  # fmt: skip
        await conn.execute(
            sa.insert(outbox),
            [{"event_key": f"{platform}:history-{n}", "platform": platform, "recipient": user,
              "target": {"kind": "history"}, "text": "Added.", "extra": {},
              "outcome": {"code": "added"}, "status": "sent", "attempts": 1,
              "next_attempt_at": now, "created_at": now + n * 0.01, "sent_at": now + n * 0.01}
             for n, owner, user in past],
        )  # fmt: skip
        lines = {(owner, f"amazon:{asin(n % 1000)}") for n, owner, _ in past}
        await conn.execute(
            sa.insert(cart_items),
            [{"account_id": owner, "product_id": product, "title": "History gadget",
              "price_cents": 999, "currency": "USD", "quantity": 1, "added_via": platform,
              "added_at": now, "updated_at": now}
             for owner, product in sorted(lines)],
        )  # fmt: skip
    await analyze(engine)


async def seed_reference_history(
    engine: Any, table: Any, row: Callable[[int], dict[str, Any]]
) -> None:
    """The references' table with as many past rows as hashcart's history, then ANALYZE."""
    count = history()
    if count > 0:
        async with engine.begin() as conn:
            await conn.execute(table.insert(), [row(n) for n in range(count)])
        await analyze(engine)


async def analyze(engine: Any) -> None:
    """Statistics for every table, as a database in use has them."""
    import sqlalchemy as sa

    async with engine.begin() as conn:
        await conn.execute(sa.text("ANALYZE"))


def asin(n: int) -> str:
    return f"B0{n:08d}"


@dataclass
class Figures:
    """One server's row in the table."""

    path: str
    server: str
    db: str
    replies_per_s: float = float("nan")
    cpu_ms: float = float("nan")  # server CPU per request in the closed loop
    system_share: float = float("nan")  # of that CPU, the kernel's part
    ack_p99: float = float("nan")  # at the steady rate
    answer_p50: float = float("nan")
    answer_p99: float = float("nan")
    rss_idle: int = 0
    rss_load: int = 0
    requests: int = 0  # closed loop + steady, redeliveries included
    applied: int = 0  # distinct commands the database holds after the run
    checked: str = ""  # "ok" or what the check after the run found wrong
    counts: dict[str, Any] | None = None
    db_cpu_ms: float = float("nan")  # PostgreSQL backends' CPU per applied command
    db_transactions: float = float("nan")  # per applied command, from pg_stat_database
    profile: str = ""


#: Frames under which every sample of a server sits (the event loop, the script's entry point):
#: 100 % cumulative each, so they are left out of the cumulative list.
EVERY_STACK = (
    "<module> ",
    "main (",
    "run (asyncio/",
    "Runner.run ",
    "BaseEventLoop.run_",
    "BaseEventLoop._run_once ",
    "Handle._run ",
)


def top_entries(raw: Path, n: int = 20) -> str:
    """The `n` functions with the most own time and the most cumulative time, from py-spy's
    collapsed stacks (`frame;frame;... count`), line numbers folded into their function."""
    import re
    from collections import Counter

    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        frames = [re.sub(r"\(/.*?/site-packages/", "(", f) for f in frames]
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            if not frame.startswith(EVERY_STACK):
                cumulative[frame] += int(count)
    if not total:
        return "(no samples)\n"
    lines = [f"{total} samples; own time:"]
    lines += [f"  {100 * c / total:5.1f} %  {f}" for f, c in own.most_common(n)]
    lines.append("cumulative:")
    lines += [f"  {100 * c / total:5.1f} %  {f}" for f, c in cumulative.most_common(n)]
    return "\n".join(lines) + "\n"


class BackendsCpu:
    """CPU time the PostgreSQL backends serving one database spend while the block runs.

    The server is on this machine and /proc/<pid>/stat is readable by anyone. Backends come and
    go (the pool's overflow connections close), so they are sampled every half second and each
    counts with its last reading; a backend's CPU after its last sample is lost (≤ 0.5 s of it).
    """

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.transactions = 0  # committed + rolled back, from pg_stat_database
        self._task: asyncio.Task[None] | None = None

    @property
    def seconds(self) -> float:
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())

    async def start(self) -> None:
        import sqlalchemy as sa
        from sqlalchemy.ext.asyncio import create_async_engine

        self._engine = create_async_engine(self.db_url)
        self._conn = await self._engine.connect()
        self._query = sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
        )
        await self._sample()
        self.first = dict(self.last)
        self.transactions = -await self._transactions()
        self._task = asyncio.create_task(self._every_half_second())

    async def _sample(self) -> None:
        name = self.db_url.rsplit("/", 1)[1]
        pids = (await self._conn.execute(self._query, {"name": name})).scalars().all()
        await self._conn.rollback()
        for pid in pids:
            with contextlib.suppress(OSError):
                self.last[pid] = cpu_seconds(pid)

    async def _transactions(self) -> int:
        """The database's transactions so far: a check on the round trips counted in the
        server, from PostgreSQL's side (this sampler's own are a few per second)."""
        import sqlalchemy as sa

        name = self.db_url.rsplit("/", 1)[1]
        await self._conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        query = sa.text(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :name"
        )
        count = int((await self._conn.execute(query, {"name": name})).scalar_one())
        await self._conn.rollback()
        return count

    async def _every_half_second(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            await self._sample()

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._sample()
        await asyncio.sleep(1.2)  # backends report their statistics at most once a second
        self.transactions += await self._transactions()
        await self._conn.close()
        await self._engine.dispose()


DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def fresh_database(kind: str, folder: Path, name: str) -> Iterator[str]:
    """A fresh, migrated database for one server: a SQLite file, or a new PostgreSQL database
    named `hashcart_bench_<name>_<random>` (on `HASHCART_TEST_POSTGRES_URL`'s server), dropped
    afterwards."""
    import secrets

    from hashcart.store.migrate import upgrade_sync

    if kind == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite+aiosqlite:///{folder / f'bench_{name}_{secrets.token_hex(3)}.db'}"
        upgrade_sync(url)
        yield url
        return
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = kind if kind.startswith("postgresql+") else None
    admin = admin or os.environ.get("HASHCART_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
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
        if not os.environ.get("BENCH_KEEP_DATABASES"):
            asyncio.run(run(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))


def insert_once(engine: Any, table: Any, **row: Any) -> Any:
    """An INSERT of one row that does nothing when the row is there (a redelivery)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert(table).values(**row).on_conflict_do_nothing()
