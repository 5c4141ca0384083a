"""Accounts, identities, carts and the event log as operators and web pages see them."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hashcart.commands import CartCommand
from hashcart.errors import Conflict, NotFound
from hashcart.store.schema import (
    accounts,
    cart_items,
    events,
    identities,
    link_tokens,
    pending_commands,
)


@dataclass(frozen=True)
class LinkToken:
    token: str
    platform: str
    user_id: str
    user_name: str | None
    expires_at: float
    used_at: float | None

    @property
    def usable(self) -> bool:
        return self.used_at is None and self.expires_at > time.time()


class Accounts:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, name: str) -> dict[str, Any]:
        account_id = uuid.uuid4().hex
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    sa.insert(accounts).values(id=account_id, name=name, created_at=time.time())
                )
        except IntegrityError:
            raise Conflict(f"an account named {name!r} exists already") from None
        return {"id": account_id, "name": name}

    async def get(self, account_id: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(accounts).where(accounts.c.id == account_id))
            ).first()
            if row is None:
                raise NotFound(f"no account {account_id!r}")
            linked = await conn.execute(
                sa.select(identities.c.platform, identities.c.user_id, identities.c.user_name)
                .where(identities.c.account_id == account_id)
                .order_by(identities.c.platform, identities.c.user_id)
            )
            return {
                "id": row.id,
                "name": row.name,
                "dm_only": row.dm_only,
                "locale": row.locale,
                "identities": [
                    {"platform": i.platform, "user_id": i.user_id, "user_name": i.user_name}
                    for i in linked
                ],
            }

    async def find(
        self, *, name: str | None = None, platform: str | None = None, user_id: str | None = None
    ) -> list[dict[str, Any]]:
        if name is not None:
            query = sa.select(accounts.c.id).where(accounts.c.name == name)
        else:
            query = sa.select(identities.c.account_id).where(
                identities.c.platform == platform, identities.c.user_id == user_id
            )
        async with self._engine.connect() as conn:
            found = (await conn.execute(query)).scalars().first()
        return [await self.get(found)] if found else []

    async def link(
        self, account_id: str, platform: str, user_id: str, user_name: str | None = None
    ) -> list[CartCommand]:
        """Link an identity; returns the pending adds it had waiting, now taken off the list."""
        now = time.time()
        try:
            async with self._engine.begin() as conn:
                if not await self._exists(conn, account_id):
                    raise NotFound(f"no account {account_id!r}")
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

    async def cart(self, account_id: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            if not await self._exists(conn, account_id):
                raise NotFound(f"no account {account_id!r}")
            rows = await conn.execute(
                sa.select(
                    cart_items.c.product_id,
                    cart_items.c.title,
                    cart_items.c.quantity,
                    cart_items.c.price_cents,
                    cart_items.c.currency,
                    cart_items.c.added_via,
                    cart_items.c.added_at,
                )
                .where(cart_items.c.account_id == account_id)
                .order_by(cart_items.c.added_at, cart_items.c.product_id)
            )
            items = [dict(row._mapping) for row in rows]
        total = sum(item["price_cents"] * item["quantity"] for item in items)
        return {"items": items, "total_cents": total}

    async def cart_of_identity(self, platform: str, user_id: str) -> dict[str, Any] | None:
        found = await self.find(platform=platform, user_id=user_id)
        return await self.cart(found[0]["id"]) if found else None

    async def events(self, limit: int = 50, outcome: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(events).order_by(events.c.id.desc()).limit(limit)
        if outcome:
            query = query.where(events.c.outcome == outcome)
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [dict(row._mapping) for row in rows]

    async def delete(self, account_id: str) -> None:
        """Delete the account, its identities, cart and pending adds; keep anonymous event ids."""
        async with self._engine.begin() as conn:
            if not await self._exists(conn, account_id):
                raise NotFound(f"no account {account_id!r}")
            linked = list(
                await conn.execute(
                    sa.select(identities.c.platform, identities.c.user_id).where(
                        identities.c.account_id == account_id
                    )
                )
            )
            for platform, user_id in linked:
                for table in (pending_commands, link_tokens):
                    await conn.execute(
                        sa.delete(table).where(
                            table.c.platform == platform, table.c.user_id == user_id
                        )
                    )
                await conn.execute(
                    sa.update(events)
                    .where(events.c.platform == platform, events.c.user_id == user_id)
                    .values(user_id=None, detail=None, account_id=None)
                )
            await conn.execute(
                sa.update(events)
                .where(events.c.account_id == account_id)
                .values(user_id=None, detail=None, account_id=None)
            )
            await conn.execute(sa.delete(cart_items).where(cart_items.c.account_id == account_id))
            await conn.execute(sa.delete(identities).where(identities.c.account_id == account_id))
            await conn.execute(sa.delete(accounts).where(accounts.c.id == account_id))

    async def token(self, token: str) -> LinkToken | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(link_tokens).where(link_tokens.c.token == token))
            ).first()
        if row is None:
            return None
        return LinkToken(
            row.token, row.platform, row.user_id, row.user_name, row.expires_at, row.used_at
        )

    @staticmethod
    async def _exists(conn: AsyncConnection, account_id: str) -> bool:
        found = await conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id))
        return found.first() is not None
