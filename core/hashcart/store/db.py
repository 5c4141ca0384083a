"""Engine creation with the settings each database needs, and dialect-aware upserts."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and foreign keys on every connection."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("connect_args", {"timeout": 10, "command_timeout": 30})
    return create_async_engine(url, **kwargs)


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def dialect_insert(engine: AsyncEngine, table: sa.Table) -> Any:
    """An INSERT that supports `on_conflict_do_nothing/update` on both SQLite and PostgreSQL."""
    if is_postgres(engine):
        return postgresql.insert(table)
    return sqlite.insert(table)


def is_outage(exc: BaseException) -> bool:
    """Whether a failure is the database (or the way to it) being away rather than the data:
    the caller answers "try again later" instead of giving up on the command."""
    from hashcart.errors import Unavailable

    if isinstance(exc, OSError | TimeoutError | ConnectionError | Unavailable):
        return True
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return not isinstance(exc, sa.exc.IntegrityError | sa.exc.DataError)
    return type(exc).__module__.split(".")[0] in ("asyncpg", "aiosqlite", "sqlite3")
