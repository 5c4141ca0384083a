"""Counts a server's statements and its PostgreSQL network round trips (bench mode only).

Installed in a benchmark's child server before hashcart starts (`BENCH_ROUND_TRIPS=1`), so the
code under test is unchanged and pays nothing when it is off.

Two counts, because they differ:

* statements, transactions: SQLAlchemy's `before_cursor_execute`, `begin`, `commit` and
  `rollback` events on every engine: what the code asks for.
* round trips (PostgreSQL): every call into asyncpg's wire protocol that waits for the server:
  `prepare` (a statement not in the prepared-statement cache), `bind_execute` and
  `bind_execute_many` (a prepared statement run; an `executemany` is one pipelined exchange),
  `query` (a simple query: `BEGIN`, `COMMIT`, `ROLLBACK`), `close_statement`, `bind`, `execute`
  (cursors). Each ends with one Sync and one ReadyForQuery, so each is one trip over the wire.
  These include what SQLAlchemy does on its own: the pool's pre-ping on every checkout (a
  transaction around `;`) and the type introspection of a new connection.

The counting wraps the protocol object of each asyncpg connection the pool opens; connections
opened before `install()` or outside SQLAlchemy's pool (hashcart's `LISTEN` connection) are not
counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

ROUND_TRIP_CALLS = frozenset(
    {"prepare", "bind_execute", "bind_execute_many", "query", "close_statement", "bind", "execute"}
)


class Counts:
    def __init__(self) -> None:
        self.events: Counter[str] = Counter()
        self.round_trips: Counter[str] = Counter()
        self.texts: Counter[str] = Counter()
        self.prepared: Counter[str] = Counter()
        self.queries: Counter[str] = Counter()

    def reset(self) -> None:
        self.events.clear()
        self.round_trips.clear()
        self.texts.clear()
        self.prepared.clear()
        self.queries.clear()

    def as_dict(self) -> dict[str, Any]:
        return {
            "statements": self.events["statement"],
            "begins": self.events["begin"],
            "commits": self.events["commit"],
            "rollbacks": self.events["rollback"],
            "round_trips": sum(self.round_trips.values()),
            "round_trips_by_call": dict(self.round_trips),
            "top_statements": dict(self.texts.most_common(12)),
            "top_prepared": dict(self.prepared.most_common(8)),
            "simple_queries": dict(self.queries.most_common(8)),
        }


COUNTER = Counts()


class CountingProtocol:
    """Stands in for an asyncpg protocol object and counts the calls that wait for the server."""

    def __init__(self, protocol: Any) -> None:
        object.__setattr__(self, "_protocol", protocol)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._protocol, name)
        if name in ROUND_TRIP_CALLS:

            def counted(*args: Any, **kwargs: Any) -> Any:
                COUNTER.round_trips[name] += 1
                if name == "prepare" and len(args) > 1 and isinstance(args[1], str):
                    COUNTER.prepared[" ".join(args[1].split())[:90]] += 1
                if name == "query" and args and isinstance(args[0], str):
                    COUNTER.queries[" ".join(args[0].split())[:40]] += 1
                return value(*args, **kwargs)

            return counted
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._protocol, name, value)


def install() -> None:
    import sqlalchemy as sa
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        COUNTER.events["statement"] += 1
        COUNTER.texts[" ".join(statement.split())[:90]] += 1

    def on(kind: str) -> Any:
        def count(*_: Any) -> None:
            COUNTER.events[kind] += 1

        return count

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        driver: Any = getattr(dbapi_connection, "_connection", None)
        if type(driver).__module__.startswith("asyncpg"):
            driver._protocol = CountingProtocol(driver._protocol)

    sa.event.listen(Engine, "before_cursor_execute", on_statement)
    for kind in ("begin", "commit", "rollback"):
        sa.event.listen(Engine, kind, on(kind))
    sa.event.listen(Pool, "connect", on_connect)
