"""Linking platform identities to accounts, and the commands that waited for the link."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hashcart.accounts.records import AccountStore
from hashcart.commands import CartCommand
from hashcart.errors import Conflict, NotFound
from hashcart.store.schema import identities, pending_commands


class Identities(AccountStore):
    async def link(
        self, account_id: str, platform: str, user_id: str, user_name: str | None = None
    ) -> list[CartCommand]:
        """Link an identity; returns the pending adds it had waiting, now taken off the list."""
        now = time.time()
        try:
            async with self._engine.begin() as conn:
                await self._must_exist(conn, account_id)
                owner = (
                    await conn.execute(
                        sa.select(identities.c.account_id).where(
                            identities.c.platform == platform, identities.c.user_id == user_id
                        )
                    )
                ).scalar()
                if owner is not None and owner != account_id:
                    raise Conflict(f"{platform} user {user_id} is linked to another account")
                if owner is None:
                    await conn.execute(
                        sa.insert(identities).values(
                            platform=platform,
                            user_id=user_id,
                            account_id=account_id,
                            user_name=user_name,
                            created_at=now,
                        )
                    )
                return await self._take_pending(conn, platform, user_id, now)
        except IntegrityError:
            raise Conflict(f"{platform} user {user_id} is linked to another account") from None

    async def _take_pending(
        self, conn: AsyncConnection, platform: str, user_id: str, now: float
    ) -> list[CartCommand]:
        where = sa.and_(
            pending_commands.c.platform == platform, pending_commands.c.user_id == user_id
        )
        rows = await conn.execute(
            sa.select(pending_commands.c.command, pending_commands.c.expires_at)
            .where(where)
            .order_by(pending_commands.c.id)
        )
        waiting = [CartCommand.from_json(r.command) for r in rows if r.expires_at > now]
        await conn.execute(sa.delete(pending_commands).where(where))
        return waiting

    async def unlink(self, account_id: str, platform: str, user_id: str) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.delete(identities).where(
                    identities.c.account_id == account_id,
                    identities.c.platform == platform,
                    identities.c.user_id == user_id,
                )
            )
        if result.rowcount == 0:
            raise NotFound(f"{platform} user {user_id} is not linked to account {account_id!r}")
