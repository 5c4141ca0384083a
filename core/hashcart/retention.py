"""Forgetting on a schedule: personal fields of old events, old replies, expired tokens and adds,
and products a live source fetched long ago (a stranger's links must not grow the table forever).

Event ids are never deleted, so a redelivery of an old event is still recognised; only the person
is taken out of them once they are older than `HASHCART_RETENTION_DAYS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.store.schema import (
    events,
    link_tokens,
    outbox,
    pending_commands,
    plugin_kv,
    products,
    rate_counters,
    web_signin_limits,
)

log = logging.getLogger(__name__)

#: How often the server prunes.
PRUNE_EVERY_SECONDS = 3600.0

#: Rate counters whose window started longer ago than this are over (no window is longer); a
#: counter names a person, so it goes as soon as it counts nothing.
COUNTER_AGE_SECONDS = 86400


async def prune(
    engine: AsyncEngine, retention_days: int, now: float | None = None
) -> dict[str, int]:
    """One pass; returns how many rows each step touched."""
    now = now or time.time()
    cutoff = now - retention_days * 86400
    steps = {
        "events": sa.update(events)
        .where(events.c.created_at < cutoff, events.c.user_id.is_not(None))
        .values(user_id=None, account_id=None, detail=None),
        "replies": sa.delete(outbox).where(
            outbox.c.created_at < cutoff, outbox.c.status != "pending"
        ),
        "link_tokens": sa.delete(link_tokens).where(link_tokens.c.expires_at < now),
        "pending_adds": sa.delete(pending_commands).where(pending_commands.c.expires_at < now),
        "expired_keys": sa.delete(plugin_kv).where(plugin_kv.c.expires_at < now),
        # Sign-up counts are rate counters too; sign-in counts hold typed names and addresses.
        "rate_counters": sa.delete(rate_counters).where(
            rate_counters.c.window_start < now - COUNTER_AGE_SECONDS
        ),
        "signin_attempts": sa.delete(web_signin_limits).where(
            web_signin_limits.c.window_start < now - COUNTER_AGE_SECONDS,
            web_signin_limits.c.next_at < now,
        ),
        # Only a source's rows: the operator's have no source. A later lookup fetches anew.
        "fetched_products": sa.delete(products).where(
            products.c.source.is_not(None), products.c.fetched_at < cutoff
        ),
    }
    async with engine.begin() as conn:
        return {name: (await conn.execute(step)).rowcount for name, step in steps.items()}


async def prune_loop(engine: AsyncEngine, retention_days: int, stopping: asyncio.Event) -> None:
    """Prune now and then every `PRUNE_EVERY_SECONDS` until `stopping` is set; a pass under way
    finishes first, so it never holds a connection the engine is about to close."""
    while not stopping.is_set():
        try:
            counts = await prune(engine, retention_days)
            if any(counts.values()):
                log.info("retention: %s", counts)
        except Exception as exc:
            log.warning("retention pass failed: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), PRUNE_EVERY_SECONDS)
