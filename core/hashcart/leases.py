"""Leases: work that must run on exactly one node at a time (the X filtered stream, say).

A node takes the lease row when it is free or expired and renews it well before the expiry; a
node that dies stops renewing, and another takes over within one lease period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.store import dialect_insert
from hashcart.store.schema import leases

log = logging.getLogger(__name__)


class Leases:
    def __init__(self, engine: AsyncEngine, holder: str | None = None) -> None:
        self._engine = engine
        self.holder = holder or uuid.uuid4().hex
        insert = dialect_insert(engine, leases)
        self._take = insert.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
            where=sa.or_(
                leases.c.holder == insert.excluded.holder,
                leases.c.expires_at < sa.bindparam("now"),
            ),
        ).returning(leases.c.holder)

    async def acquire(self, name: str, ttl: float) -> bool:
        """Take or renew the lease; True when this node holds it for the next `ttl` seconds."""
        now = time.time()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                self._take,
                {"name": name, "holder": self.holder, "expires_at": now + ttl, "now": now},
            )
            return result.scalar() == self.holder

    async def release(self, name: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.delete(leases).where(leases.c.name == name, leases.c.holder == self.holder)
            )

    async def run_exclusively(
        self,
        name: str,
        work: Callable[[], Awaitable[Any]],
        *,
        ttl: float = 10.0,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Run `work()` on this node only while it holds the lease `name`, until `stop` is set:
        renewed every third of `ttl`, cancelled when a renewal fails, started again once back."""
        stop = stop or asyncio.Event()
        task: asyncio.Task[Any] | None = None
        try:
            while not stop.is_set():
                try:
                    held = await self.acquire(name, ttl)
                except Exception as exc:
                    log.warning("lease %s: cannot reach the database: %s", name, exc)
                    held = False
                if held and task is None:
                    log.info("lease %s taken by %s", name, self.holder)
                    task = asyncio.create_task(_run(work), name=f"lease-{name}")
                elif not held and task is not None:
                    log.warning("lease %s lost; stopping its work", name)
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    task = None
                if task is not None and task.done():
                    task = None  # the work ended by itself; start it again next round
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), ttl / 3)
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.release(name)


async def _run(work: Callable[[], Awaitable[Any]]) -> None:
    try:
        await work()
    except Exception:  # not a cancellation, which is no Exception
        log.exception("work under a lease failed")
