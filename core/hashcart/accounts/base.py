"""What every part of `Accounts` shares: the engine and the checks on an account row."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hashcart.errors import NotFound
from hashcart.store.schema import accounts


class AccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @staticmethod
    async def _exists(conn: AsyncConnection, account_id: str) -> bool:
        found = await conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id))
        return found.first() is not None

    async def _lock(self, conn: AsyncConnection, account_id: str) -> None:
        found = await conn.execute(
            sa.select(accounts.c.id).where(accounts.c.id == account_id).with_for_update()
        )
        if found.first() is None:
            raise NotFound(f"no account {account_id!r}")
