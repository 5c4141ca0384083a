"""Standing states: platform events that are states rather than occurrences (see `StateChange`).

A command's `StateChange` flips its key's row, in the command's transaction, only from the
opposite value: two copies of one change (a gateway replay, another node) serialise on the row
and the second finds nothing to change. The row's version makes each change's event key unique,
so the answer to a third change is not taken for a copy of the answer to the first.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.store.schema import command_states

#: At most this many keys come back from one `standing` query.
MAX_STANDING = 10_000


def set_present_statement(insert: Any) -> Any:
    """Insert the key as present, or flip it from absent; returns the new version, or no row
    when it already stood."""
    statement = insert(command_states).values(
        state_key=sa.bindparam("b_state_key"),
        present=True,
        version=1,
        updated_at=sa.bindparam("b_now"),
    )
    return statement.on_conflict_do_update(
        index_elements=[command_states.c.state_key],
        set_={
            "present": True,
            "version": command_states.c.version + 1,
            "updated_at": statement.excluded.updated_at,
        },
        where=command_states.c.present.is_(False),
    ).returning(command_states.c.version)


def set_absent_statement() -> Any:
    """Flip the key from present to absent; no row when it was not standing (absent is where
    every key starts, so taking back what never stood changes nothing)."""
    return (
        sa.update(command_states)
        .where(
            command_states.c.state_key == sa.bindparam("b_state_key"),
            command_states.c.present.is_(True),
        )
        .values(
            present=False,
            version=command_states.c.version + 1,
            updated_at=sa.bindparam("b_now"),
        )
        .returning(command_states.c.version)
    )


async def standing(engine: AsyncEngine, prefix: str) -> list[str]:
    """The keys starting with `prefix` whose state stands, sorted (at most `MAX_STANDING`)."""
    query = (
        sa.select(command_states.c.state_key)
        .where(
            command_states.c.state_key.startswith(prefix, autoescape=True),
            command_states.c.present.is_(True),
        )
        .order_by(command_states.c.state_key)
        .limit(MAX_STANDING)
    )
    async with engine.connect() as conn:
        return list((await conn.execute(query)).scalars())
