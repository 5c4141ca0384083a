"""What a server under test holds on to over a long run (issue 17), opt-in: `BENCH_TRACEMALLOC`.

Resident memory alone cannot tell a Python leak from a reply backlog, sqlite's page cache or the
allocator keeping freed pages, so the child watches itself and prints (to stderr, the parent
reads stdout) a line every 30 s: resident memory, memory Python traces, malloc's in-use and free
bytes, sqlite's own allocations, asyncio tasks, objects tracked by the garbage collector and the
outbox by status. At the minutes in `BENCH_TRACEMALLOC_AT` (default 2, 8, 10) it takes a
tracemalloc snapshot and prints the 15 lines that grew most since the previous one, and the 10
types whose object counts grew most (`BENCH_TRACEMALLOC_AT=` empty: the lines only, untraced).
`BENCH_MALLOC_TRIM=1` also hands malloc's free pages back before each line and prints the resident
memory after: what is left is what the node holds, the rest was the allocator's.

    BENCH_TRACEMALLOC=1 .venv/bin/python bench/all.py --minutes 10
    BENCH_TRACEMALLOC=5  # keep 5 frames: the top growth lines also show who called them
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import os
import sys
import time
import tracemalloc
from collections import Counter
from typing import Any

import sqlalchemy as sa

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 2**20


def enabled() -> bool:
    return os.environ.get("BENCH_TRACEMALLOC", "") not in ("", "0")


def say(text: str) -> None:
    print(f"[memwatch] {text}", file=sys.stderr, flush=True)


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _libc() -> Any:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        return libc
    return None


def _sqlite() -> Any:
    """The libsqlite3 that `_sqlite3` loaded: its `sqlite3_memory_used()` counts every
    connection's page cache and statements in this process."""
    with contextlib.suppress(OSError, AttributeError):
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        return lib
    return None


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def type_counts() -> Counter[str]:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


class MemoryWatch:
    """Readings of one hashcart node (`hashcart.app.Hashcart`) from `ready` on."""

    def __init__(self, hashcart: Any) -> None:
        self.hashcart = hashcart
        self.frames = max(1, int(os.environ.get("BENCH_TRACEMALLOC", "1") or 1))
        marks = os.environ.get("BENCH_TRACEMALLOC_AT", "2,8,10")
        self.marks = sorted(float(m) for m in marks.split(",") if m.strip())
        self.libc = _libc()
        self.trim = os.environ.get("BENCH_MALLOC_TRIM", "") not in ("", "0")
        self.sqlite = _sqlite()
        self.started = time.monotonic()
        self.snapshot: tracemalloc.Snapshot | None = None
        self.types: Counter[str] = Counter()
        self.mark_name = "start"

    async def run(self) -> None:
        if self.marks:  # none: the 30 s lines only, without tracemalloc's cost
            tracemalloc.start(self.frames)
            self.take_mark("start")
        next_line = 0.0
        marks = list(self.marks)
        while True:
            minutes = (time.monotonic() - self.started) / 60
            if minutes >= next_line / 60:
                await self.line(minutes)
                next_line += 30
            if marks and minutes >= marks[0]:
                self.take_mark(f"minute {marks.pop(0):g}")
            await asyncio.sleep(1)

    async def line(self, minutes: float) -> None:
        traced, _ = tracemalloc.get_traced_memory()
        parts = [
            f"{minutes:5.1f} min",
            f"RSS {rss() / MIB:.1f}",
            f"traced {traced / MIB:.1f}",
        ]
        if self.trim and self.libc is not None:
            self.libc.malloc_trim(0)
            parts.append(f"RSS after malloc_trim {rss() / MIB:.1f}")
        if self.libc is not None:
            info = self.libc.mallinfo2()
            parts.append(
                f"malloc used {info.uordblks / MIB:.1f} free {info.fordblks / MIB:.1f} "
                f"mmap {info.hblkhd / MIB:.1f}"
            )
        if self.sqlite is not None:
            parts.append(f"sqlite {self.sqlite.sqlite3_memory_used() / MIB:.1f}")
        parts.append(f"tasks {len(asyncio.all_tasks())}")
        parts.append(f"gc objects {len(gc.get_objects())}")
        parts.append(f"outbox {await self.outbox()}")
        say(" | ".join(parts) + " (MiB)")

    async def outbox(self) -> str:
        from hashcart.store.schema import outbox

        waiting = sa.case((outbox.c.next_attempt_at > time.time(), 1), else_=0)
        query = sa.select(outbox.c.status, sa.func.count(), sa.func.sum(waiting)).group_by(
            outbox.c.status
        )
        try:
            async with self.hashcart.engine.connect() as conn:
                rows = list(await conn.execute(query))
        except Exception as exc:  # a reading, never a reason to stop the server
            return f"unreadable ({exc!r})"
        return ", ".join(
            f"{status} {n}" + (f" ({later} not due yet)" if later else "")
            for status, n, later in sorted(rows)
        )

    def take_mark(self, name: str) -> None:
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        types = type_counts()
        if self.snapshot is not None:
            self.report(name, snapshot, types)
        self.snapshot, self.types, self.mark_name = snapshot, types, name

    def report(self, name: str, snapshot: tracemalloc.Snapshot, types: Counter[str]) -> None:
        assert self.snapshot is not None
        say(f"growth from {self.mark_name} to {name}, top 15 lines:")
        key = "traceback" if self.frames > 1 else "lineno"
        for stat in snapshot.compare_to(self.snapshot, key)[:15]:
            frames = stat.traceback.format(limit=self.frames, most_recent_first=True)
            where = " <- ".join(line.strip() for line in frames if not line.startswith("    "))
            say(
                f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+8d} blocks "
                f"(now {stat.size / 1024:.1f} KiB): {where}"
            )
        grown = Counter({t: n - self.types.get(t, 0) for t, n in types.items()})
        top = ", ".join(f"{t} {n:+d}" for t, n in grown.most_common(10) if n > 0)
        say(f"  gc objects by type, most grown: {top or 'none'}")


def start(hashcart: Any) -> asyncio.Task[None] | None:
    """Begin watching when `BENCH_TRACEMALLOC` asks for it; the task runs until the loop ends."""
    if not enabled():
        return None
    return asyncio.create_task(MemoryWatch(hashcart).run(), name="bench-memwatch")
