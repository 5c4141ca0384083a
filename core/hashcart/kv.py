"""A small durable key-value store in the database, for plugin state (installations, leases)."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.store import dialect_insert
from hashcart.store.schema import plugin_kv


class KeyValueStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, namespace: str, key: str) -> Any | None:
        # One SELECT needs no transaction: on PostgreSQL autocommit saves the BEGIN and the
        # ROLLBACK round trips around it (Slack reads its bot token here on every request).
        async with self._engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            query = sa.select(plugin_kv.c.value, plugin_kv.c.expires_at).where(_is(namespace, key))
            row = (await conn.execute(query)).first()
        if row is None or (row.expires_at is not None and row.expires_at < time.time()):
            return None
        return row.value

    async def put(self, namespace: str, key: str, value: Any, ttl: float | None = None) -> None:
        expires = time.time() + ttl if ttl is not None else None
        insert = dialect_insert(self._engine, plugin_kv)
        stmt = insert.values(namespace=namespace, key=key, value=value, expires_at=expires)
        stmt = stmt.on_conflict_do_update(
            index_elements=[plugin_kv.c.namespace, plugin_kv.c.key],
            set_={"value": insert.excluded.value, "expires_at": insert.excluded.expires_at},
        )
        async with self._engine.begin() as conn:
            await conn.execute(stmt)

    async def delete(self, namespace: str, key: str) -> bool:
        """Remove a key; returns whether it was there."""
        async with self._engine.begin() as conn:
            result = await conn.execute(sa.delete(plugin_kv).where(_is(namespace, key)))
        return bool(result.rowcount)

    async def keys(self, namespace: str) -> list[str]:
        """Every live key of a namespace."""
        now = time.time()
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(plugin_kv.c.key).where(
                    plugin_kv.c.namespace == namespace,
                    sa.or_(plugin_kv.c.expires_at.is_(None), plugin_kv.c.expires_at > now),
                )
            )
            return sorted(rows.scalars())


def _is(namespace: str, key: str) -> sa.ColumnElement[bool]:
    return sa.and_(plugin_kv.c.namespace == namespace, plugin_kv.c.key == key)
