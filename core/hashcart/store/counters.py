"""Fixed-window counters in the `rate_counters` table, shared by every node.

One upsert counts a hit and returns the window's count, so two nodes counting at once never lose
a hit. The applier runs these statements inside a command's transaction (rate limits, cool-downs,
poison tries); `RateCounters` runs them on their own (web sign-in limits, the request quota of an
outside API shared by every node).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.store.db import dialect_insert
from hashcart.store.schema import rate_counters


def window_start(now: float, window_seconds: int) -> int:
    return int(now // window_seconds) * window_seconds


def hit_statement(insert: Any) -> Any:
    """Count one hit; parameters `key`, `window_start`, `count=1`; returns the new count."""
    hit = insert(rate_counters)
    return hit.on_conflict_do_update(
        index_elements=[rate_counters.c.key],
        set_={
            "count": sa.case(
                (
                    rate_counters.c.window_start == hit.excluded.window_start,
                    rate_counters.c.count + 1,
                ),
                else_=1,
            ),
            "window_start": hit.excluded.window_start,
        },
    ).returning(rate_counters.c.count)


#: The count of `key` in window `window_start`, without adding one (no row: none yet).
PEEK = sa.select(rate_counters.c.count).where(
    rate_counters.c.key == sa.bindparam("key"),
    rate_counters.c.window_start == sa.bindparam("window_start"),
)


class RateCounters:
    """Counters used outside a command's transaction, each call its own transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._hit = hit_statement(lambda table: dialect_insert(engine, table))

    async def hit(self, key: str, window_seconds: int) -> int:
        """Count one hit against `key` in the current window; returns the window's count."""
        params = {"key": key, "window_start": window_start(time.time(), window_seconds), "count": 1}
        async with self._engine.begin() as conn:
            return int((await conn.execute(self._hit, params)).scalar_one())

    async def peek(self, key: str, window_seconds: int) -> int:
        """The hits counted against `key` in the current window, without adding one."""
        params = {"key": key, "window_start": window_start(time.time(), window_seconds)}
        async with self._engine.connect() as conn:
            return int(await conn.scalar(PEEK, params) or 0)

    async def wait_for_slot(
        self, key: str, per_window: int, window_seconds: int, max_wait: float
    ) -> float | None:
        """Take one of the `per_window` calls of `key`'s current window, shared by every node,
        waiting for later windows while they are taken: a quota such as "1 request a second per
        account" holds across a cluster. Returns None once a call may be made, or, when none
        comes free within `max_wait` seconds, how many seconds until the next window.
        """
        deadline = time.monotonic() + max_wait
        while True:
            if await self.hit(key, window_seconds) <= per_window:
                return None
            now = time.time()
            wait = window_start(now, window_seconds) + window_seconds - now
            if time.monotonic() + wait > deadline:
                return wait
            await asyncio.sleep(wait)
