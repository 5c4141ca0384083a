"""Engine creation with the settings each database needs, and dialect-aware upserts."""

from __future__ import annotations

import re
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and foreign keys on every connection.

    Statement parameters (link tokens, user ids) are kept out of error messages, which end up in
    logs and in the events the admin API returns.
    """
    kwargs.setdefault("hide_parameters", True)
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
    # The connection back last goes out first: the few a steady load needs stay warm and the
    # rest sit idle, instead of every checkout taking the one idle longest, which is pinged
    # (`BEGIN`, `;`, `ROLLBACK`) once the pool is larger than a second's checkouts.
    kwargs.setdefault("pool_use_lifo", True)
    kwargs.setdefault("connect_args", {"timeout": 10, "command_timeout": 30})
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_idle_connections(engine)
    return engine


#: A pooled connection left unused for longer than this is pinged before it is handed out.
PING_IDLE_SECONDS = 1.0


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """`pool_pre_ping`, but only for connections that sat idle.

    SQLAlchemy's pre-ping costs one round trip on every checkout, a third of a command's round
    trips under load, where a connection goes back to work milliseconds after it was returned.
    A connection that dies while busy (the server restarted, the backend was terminated) fails
    its statement as an outage, which the callers already answer with "try again later"; the
    pool then replaces it.
    """
    pool = engine.sync_engine.pool
    dialect = engine.dialect

    @sa.event.listens_for(pool, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(pool, "checkout")
    def _check_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_IDLE_SECONDS:
            return  # just connected, or back from work a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and hands out another.
            raise sa.exc.DisconnectionError(f"idle connection is gone: {exc!r}") from exc


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def one_of(column: sa.Column[Any], name: str, postgres: bool) -> sa.ColumnElement[bool]:
    """`column IN (...)` for a list bound at execution time as `name`.

    SQLAlchemy writes an expanding `IN` with one placeholder per value, so every list length is
    a statement of its own, which asyncpg prepares (one more round trip) on every connection for
    every length it meets; `= ANY($1)` with an array is one statement for all lengths.
    """
    if postgres:
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(sa.bindparam(name, expanding=True))


def dialect_insert(engine: AsyncEngine, table: sa.Table) -> Any:
    """An INSERT that supports `on_conflict_do_nothing/update` on both SQLite and PostgreSQL."""
    if is_postgres(engine):
        return postgresql.insert(table)
    return sqlite.insert(table)


#: SQLSTATE classes that say the server or the way to it is in trouble, not the statement:
#: connection exception, refused authorization, unknown database, transaction rollback
#: (serialization, deadlock), insufficient resources, lock not available, operator intervention
#: (shutdown, cancelled), system error, internal error.
_OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "28", "3D", "40", "53", "55", "57", "58", "XX"})


def is_outage(exc: BaseException) -> bool:
    """Whether a failure is the database (or the way to it) being away rather than the data:
    the caller answers "try again later" instead of giving up on the command.

    Only a lost or refused connection, a timeout or a server in trouble is an outage. A value
    the database refuses (too long, not a number, a duplicate) is the command's fault: taken for
    an outage, it would be redelivered for ever and stall everything queued behind it.
    """
    from hashcart.errors import Unavailable

    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, Unavailable | OSError | TimeoutError | sa.exc.TimeoutError):
            return True
        if isinstance(node, sa.exc.DisconnectionError):
            return True
        if isinstance(node, sa.exc.DBAPIError) and node.connection_invalidated:
            return True
        if isinstance(node, ValueError | TypeError):
            return False  # a value the driver could not send: asyncpg calls it an InterfaceError
        sqlstate = getattr(node, "sqlstate", None)
        if isinstance(sqlstate, str) and len(sqlstate) == 5:
            return sqlstate[:2] in _OUTAGE_SQLSTATE_CLASSES
        if _is_driver_connection_error(node):
            return True
        orig = getattr(node, "orig", None)
        below = orig if isinstance(orig, BaseException) else node.__cause__
        if below is None:
            return isinstance(node, sa.exc.InterfaceError | sa.exc.OperationalError)
        node = below
    return False


def _is_driver_connection_error(exc: BaseException) -> bool:
    """The drivers' own words for "no connection": asyncpg's interface errors, SQLite's
    operational errors (a locked or unreadable file)."""
    module = type(exc).__module__.split(".")[0]
    names = {cls.__name__ for cls in type(exc).__mro__}
    if module == "asyncpg":
        return bool(names & {"InterfaceError", "PostgresConnectionError"})
    if module in ("sqlite3", "aiosqlite"):
        return "OperationalError" in names
    return False


_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'|\([^()]*\)=\([^()]*\)")


def describe_failure(exc: BaseException) -> str:
    """The exception type and the first line of its message, without values: what an event's
    detail and the logs may keep. A database error names the driver's error, not the statement
    (whose parameters may hold a link token or a user id); quoted values are left out."""
    if isinstance(exc, sa.exc.StatementError) and exc.orig is not None:
        inner: BaseException = exc.orig.__cause__ or exc.orig
        lines = str(inner).strip().splitlines() or [""]
        message = lines[0]
        name = type(inner).__name__
    else:
        lines = str(exc).strip().splitlines() or [""]
        message, name = lines[0], type(exc).__name__
    message = _QUOTED.sub("…", message)
    return f"{name}: {message}"[:300] if message else name
