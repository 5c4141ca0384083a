"""Web sign-in attempts, admitted before the password hash is checked.

One upsert per key both counts an attempt and decides whether it may go ahead, so however many
guesses arrive at once (on however many nodes), at most the window's allowance reach the
password check. Past the allowance an account name is not locked (its owner could then be
locked out by anyone): each further attempt must wait a little longer than the one before, up to
`MAX_DELAY_SECONDS`; a client address past its allowance waits for the window to end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.store import dialect_insert
from hashcart.store.schema import web_signin_limits

#: The first attempt past a name's allowance waits this long, the next twice as long, …
DELAY_STEP_SECONDS = 2.0
MAX_DELAY_SECONDS = 60.0


def address_key(address: str) -> str:
    return f"addr:{address[:150]}"


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may check its password; if not, how long to wait."""

    admitted: bool
    retry_after: float = 0.0


class SignInLimits:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def admit(
        self, key: str, allowance: int, window_seconds: int, *, slow_down: bool
    ) -> Verdict:
        """Count one attempt against `key` unless it must wait.

        `slow_down`: past the allowance, admit one attempt per growing delay (account names);
        otherwise admit none until the window ends (addresses).
        """
        now = time.time()
        start = int(now // window_seconds) * window_seconds
        table = web_signin_limits
        # `next_at` 0: the next attempt may come at once. (Not `now`: a request that read the
        # clock earlier but commits later would find itself in the future and be refused.)
        insert = dialect_insert(self._engine, table).values(
            key=key, window_start=start, count=1, next_at=0.0
        )
        new_window = table.c.window_start != insert.excluded.window_start
        counted = sa.case((new_window, 1), else_=table.c.count + 1)
        past = counted - allowance
        if slow_down:
            # 1, 2, 4, … seconds: the doubling is a CASE ladder so both databases can run it.
            ladder = [(past <= n, DELAY_STEP_SECONDS * 2**n) for n in range(5)]
            delay = sa.case(*ladder, else_=MAX_DELAY_SECONDS)
            next_at = sa.case((past < 0, 0.0), else_=now + delay)
        else:
            next_at = sa.case((past < 0, 0.0), else_=float(start + window_seconds))
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"count": counted, "window_start": start, "next_at": next_at},
            where=sa.or_(new_window, table.c.next_at <= now),
        ).returning(table.c.count)
        async with self._engine.begin() as conn:
            admitted = (await conn.execute(statement)).first()
            if admitted is not None:
                return Verdict(True)
            wait = await conn.scalar(sa.select(table.c.next_at).where(table.c.key == key))
        return Verdict(False, max(1.0, float(wait or now) - now))

    async def refund(self, key: str) -> None:
        """Take back one counted attempt (it succeeded): many people signing in from one
        address (an office, a school) use up nothing."""
        table = web_signin_limits
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(table)
                .where(table.c.key == key, table.c.count > 0)
                .values(count=table.c.count - 1, next_at=0.0)
            )

    async def clear(self, key: str) -> None:
        """A successful sign-in: the name's earlier failures no longer slow its owner down."""
        async with self._engine.begin() as conn:
            await conn.execute(sa.delete(web_signin_limits).where(web_signin_limits.c.key == key))
