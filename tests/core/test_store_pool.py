"""PostgreSQL connections are pinged only after sitting idle, and a dead idle one is replaced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.store import create_engine
from hashcart.store import db as store_db


@pytest.fixture
async def engine(postgres_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_database, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


def count_pings(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    pings: list[object] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


async def test_a_connection_back_from_work_is_not_pinged(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = count_pings(engine, monkeypatch)
    for _ in range(5):
        async with engine.begin() as conn:
            assert await conn.scalar(sa.text("SELECT 1")) == 1

    assert pings == []


async def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_db, "PING_IDLE_SECONDS", 0.05)
    pings = count_pings(engine, monkeypatch)
    async with engine.connect() as conn:
        first = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
    admin = create_engine(engine.url.render_as_string(False))
    try:
        async with admin.begin() as conn:
            await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    finally:
        await admin.dispose()
    await asyncio.sleep(0.1)

    async with engine.connect() as conn:
        second = await conn.scalar(sa.text("SELECT pg_backend_pid()"))

    assert len(pings) == 1
    assert second != first
