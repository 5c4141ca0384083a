"""Carts: read by the admin API, the bots and the cart page; changed by their owners on the web.

Cart changes from the web bypass the applier: they are the owner's own edits on a page, not
platform events, so they need no dedupe and get no platform reply. On PostgreSQL they take the
account row lock the applier takes, so a page edit and a platform add never interleave.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from hashcart.accounts.records import AccountRecords
from hashcart.store.schema import accounts, cart_items, identities


class Carts(AccountRecords):
    async def cart(self, account_id: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            await self._must_exist(conn, account_id)
            rows = await conn.execute(
                sa.select(
                    cart_items.c.product_id,
                    cart_items.c.title,
                    cart_items.c.quantity,
                    cart_items.c.price_cents,
                    cart_items.c.currency,
                    cart_items.c.added_via,
                    cart_items.c.added_at,
                    cart_items.c.url,
                    cart_items.c.image_url,
                    cart_items.c.priced_at,
                )
                .where(cart_items.c.account_id == account_id)
                .order_by(cart_items.c.added_at, cart_items.c.product_id)
            )
            items = [dict(row._mapping) for row in rows]
        # Prices in two currencies are never added: one total per currency, and `total_cents`
        # only when there is a single currency (0 for an empty cart).
        sums: dict[str, int] = {}
        for item in items:
            item["store"] = item["product_id"].partition(":")[0]
            sums[item["currency"]] = sums.get(item["currency"], 0) + (
                item["price_cents"] * item["quantity"]
            )
        cart: dict[str, Any] = {
            "items": items,
            "totals": [{"currency": currency, "cents": cents} for currency, cents in sums.items()],
        }
        if len(sums) <= 1:
            cart["total_cents"] = sum(sums.values())
        return cart

    async def cart_of_identity(self, platform: str, user_id: str) -> dict[str, Any] | None:
        found = await self.find(platform=platform, user_id=user_id)
        return await self.cart(found[0]["id"]) if found else None

    async def set_quantity(self, account_id: str, product_id: str, quantity: int) -> bool:
        """Set a cart line's quantity (0 removes it); False when the line is not in the cart."""
        async with self._engine.begin() as conn:
            await self._must_exist(conn, account_id, lock=True)
            line = sa.and_(
                cart_items.c.account_id == account_id, cart_items.c.product_id == product_id
            )
            if quantity <= 0:
                result = await conn.execute(sa.delete(cart_items).where(line))
            else:
                result = await conn.execute(
                    sa.update(cart_items)
                    .where(line)
                    .values(quantity=quantity, updated_at=time.time())
                )
        return bool(result.rowcount)

    async def set_dm_only(self, account_id: str, dm_only: bool) -> None:
        async with self._engine.begin() as conn:
            await self._must_exist(conn, account_id, lock=True)
            await conn.execute(
                sa.update(accounts).where(accounts.c.id == account_id).values(dm_only=dm_only)
            )

    async def cart_version(self, account_id: str) -> tuple[Any, ...]:
        """A value that changes whenever the cart page of this account would show something new."""
        async with self._engine.connect() as conn:
            items = (
                await conn.execute(
                    sa.select(
                        sa.func.count(),
                        sa.func.coalesce(sa.func.sum(cart_items.c.quantity), 0),
                        sa.func.max(cart_items.c.updated_at),
                    ).where(cart_items.c.account_id == account_id)
                )
            ).one()
            linked = (
                await conn.execute(
                    sa.select(sa.func.count(), sa.func.max(identities.c.created_at)).where(
                        identities.c.account_id == account_id
                    )
                )
            ).one()
            dm_only = (
                await conn.execute(sa.select(accounts.c.dm_only).where(accounts.c.id == account_id))
            ).scalar()
        return (*items, *linked, dm_only)
