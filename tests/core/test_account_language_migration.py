"""Migration 0011 adds `accounts.language` to a database that has accounts, and takes it away."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from hashcart.store import create_engine
from hashcart.store.migrate import alembic_config, upgrade
from hashcart.testing.pytest_plugin import _outside_transaction, postgres_admin_url

BEFORE = "0010_shop"


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of this test's own: the shared one must stay at the newest schema."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrating.db'}"
        return
    admin = postgres_admin_url()
    name = f"hashcart_actions_migration_{secrets.token_hex(4)}"
    try:
        await _outside_transaction(admin, f'CREATE DATABASE "{name}"')
    except Exception as exc:
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await _outside_transaction(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _columns(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(lambda sync: sa.inspect(sync).get_columns("accounts"))
    finally:
        await engine.dispose()
    return {column["name"] for column in found}


async def test_language_column_comes_and_goes_keeping_the_accounts(fresh_url: str) -> None:
    await upgrade(fresh_url, BEFORE)
    assert "language" not in await _columns(fresh_url)
    engine = create_engine(fresh_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO accounts (id, name, dm_only, created_at)"
                    " VALUES ('a1', 'alice', false, 0)"
                )
            )
        await upgrade(fresh_url)
        assert "language" in await _columns(fresh_url)
        async with engine.begin() as conn:
            kept = (await conn.execute(sa.text("SELECT name, language FROM accounts"))).all()
            assert [tuple(row) for row in kept] == [("alice", None)]
            await conn.execute(sa.text("UPDATE accounts SET language = 'de'"))
        await asyncio.to_thread(command.downgrade, alembic_config(fresh_url), BEFORE)
        assert "language" not in await _columns(fresh_url)
        async with engine.connect() as conn:
            names = (await conn.execute(sa.text("SELECT name FROM accounts"))).scalars().all()
        assert names == ["alice"]
    finally:
        await engine.dispose()
