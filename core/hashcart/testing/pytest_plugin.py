"""pytest fixtures of the hashcart test kit (see docs/testing.md).

PostgreSQL comes from `HASHCART_TEST_POSTGRES_URL`; each test session works in a database of its
own, created and dropped here. When PostgreSQL cannot be reached the PostgreSQL runs fail under
CI (`CI=true`) and are skipped with the reason elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

if TYPE_CHECKING:
    from hashcart.testing.harness import RunningHashcart

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _in_thread(fn: Callable[[], Any]) -> Any:
    """Run blocking set-up (its own event loop) even when a test's loop is already running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result()


def postgres_admin_url() -> str:
    return os.environ.get("HASHCART_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


async def _outside_transaction(admin_url: str, statement: str) -> None:
    """CREATE and DROP DATABASE refuse to run inside a transaction."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database of this test session's own, migrated to the newest schema."""
    admin = postgres_admin_url()
    name = f"hashcart_test_{secrets.token_hex(4)}"
    try:
        _in_thread(lambda: asyncio.run(_outside_transaction(admin, f'CREATE DATABASE "{name}"')))
    except Exception as exc:
        reason = f"PostgreSQL at {admin.split('@')[-1]} is unreachable: {type(exc).__name__}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    from hashcart.store.migrate import upgrade_sync

    _in_thread(lambda: upgrade_sync(url))
    try:
        yield url
    finally:
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        _in_thread(lambda: asyncio.run(_outside_transaction(admin, drop)))


async def _truncate(url: str) -> None:
    from hashcart.store import create_engine
    from hashcart.store.schema import metadata

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty, migrated database: once SQLite, once PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'hashcart.db'}"
        return
    url = request.getfixturevalue("postgres_database")
    await _truncate(url)
    yield url


@pytest.fixture
def hashcart_plugins() -> Sequence[object]:
    """The plugins the `hashcart` fixture loads: override it with the plugin under test."""
    return ()


@pytest.fixture
def hashcart_env() -> Mapping[str, str]:
    """Environment variables for the `hashcart` fixture's run (a plugin's settings)."""
    return {}


@pytest.fixture
async def hashcart(
    hashcart_plugins: Sequence[object], hashcart_env: Mapping[str, str]
) -> AsyncIterator[RunningHashcart]:
    """A started hashcart on a temporary SQLite database with `hashcart_plugins` loaded."""
    from hashcart.testing.harness import running_hashcart

    async with running_hashcart(plugins=hashcart_plugins, env=hashcart_env) as running:
        yield running
