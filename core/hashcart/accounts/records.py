"""Accounts as operators see them: create, find, read, delete, their events, orders and carts;
web sign-in with a password and the session version that ends sessions; and `AccountStore`,
what every part of `Accounts` shares."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hashcart.accounts.erasure import erase_account
from hashcart.errors import Conflict, NotFound
from hashcart.store import dialect_insert
from hashcart.store.schema import accounts, cart_items, events, identities, orders, web_logins

#: What an order says, as the admin API and the cart page show it.
ORDER = ("id", "items", "total_cents", "currency", "store_reference", "created_at", "status")


class AccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @staticmethod
    async def _must_exist(conn: AsyncConnection, account_id: str, *, lock: bool = False) -> None:
        """`lock`: hold the account's row, as the applier does, until the transaction ends."""
        query = sa.select(accounts.c.id).where(accounts.c.id == account_id)
        found = await conn.execute(query.with_for_update() if lock else query)
        if found.first() is None:
            raise NotFound(f"no account {account_id!r}")

    def _password(self, account_id: str, password_hash: str, now: float) -> sa.Insert:
        """The statement that gives an account its web password, or a new one."""
        insert = dialect_insert(self._engine, web_logins).values(
            account_id=account_id, password_hash=password_hash, created_at=now, updated_at=now
        )
        upsert: sa.Insert = insert.on_conflict_do_update(
            index_elements=[web_logins.c.account_id],
            set_={"password_hash": password_hash, "updated_at": now},
        )
        return upsert


class AccountRecords(AccountStore):
    async def create(self, name: str, password_hash: str | None = None) -> dict[str, Any]:
        """A new account, one that can sign in on the web when given `password_hash`."""
        account_id, now = uuid.uuid4().hex, time.time()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    sa.insert(accounts).values(id=account_id, name=name, created_at=now)
                )
                if password_hash is not None:
                    await conn.execute(self._password(account_id, password_hash, now))
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
                "language": row.language,
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

    async def delete(self, account_id: str) -> None:
        """Delete the account, its identities, cart and pending adds; keep anonymous event ids."""
        async with self._engine.begin() as conn:
            await self._must_exist(conn, account_id)
            await erase_account(conn, account_id)

    async def events(self, limit: int = 50, outcome: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(events).order_by(events.c.id.desc()).limit(limit)
        if outcome:
            query = query.where(events.c.outcome == outcome)
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [dict(row._mapping) for row in rows]

    async def orders(self, account_id: str) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            await self._must_exist(conn, account_id)
            rows = await conn.execute(
                sa.select(*(orders.c[name] for name in ORDER))
                .where(orders.c.account_id == account_id)
                .order_by(orders.c.created_at.desc())
            )
            return [dict(row._mapping) for row in rows]

    async def set_password(
        self, account_id: str, password_hash: str, *, end_sessions: bool = True
    ) -> None:
        """Give an account (one an operator made, say) a web password, or change it.

        A new password ends the account's web sessions (`end_sessions`); re-hashing the same
        password with newer parameters passes False.
        """
        now = time.time()
        async with self._engine.begin() as conn:
            await self._must_exist(conn, account_id)
            if end_sessions:
                await conn.execute(self._next_session_version(account_id))
            await conn.execute(self._password(account_id, password_hash, now))

    async def session_version(self, account_id: str) -> int | None:
        """The account's web session version (None: no such account); cookies carry it."""
        async with self._engine.connect() as conn:
            found = await conn.scalar(
                sa.select(accounts.c.session_version).where(accounts.c.id == account_id)
            )
        return None if found is None else int(found)

    async def end_sessions(self, account_id: str) -> None:
        """End every web session of the account, on every browser (sign-out everywhere)."""
        async with self._engine.begin() as conn:
            await conn.execute(self._next_session_version(account_id))

    @staticmethod
    def _next_session_version(account_id: str) -> sa.Update:
        return (
            sa.update(accounts)
            .where(accounts.c.id == account_id)
            .values(session_version=accounts.c.session_version + 1)
        )

    async def login_of(self, name: str) -> tuple[str, str] | None:
        """(account id, password hash) of the account with this name, if it can sign in."""
        query = (
            sa.select(accounts.c.id, web_logins.c.password_hash)
            .join(web_logins, web_logins.c.account_id == accounts.c.id)
            .where(accounts.c.name == name)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (row.id, row.password_hash)


class Carts(AccountRecords):
    """Carts: read by the admin API, the bots and the cart page; changed by their owners on the
    web. Those changes bypass the applier: they are the owner's own edits on a page, not platform
    events, so they need no dedupe and get no platform reply. On PostgreSQL they take the account
    row lock the applier takes, so a page edit and a platform add never interleave."""

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
        sums: Counter[str] = Counter()
        for item in items:
            item["store"] = item["product_id"].partition(":")[0]
            sums[item["currency"]] += item["price_cents"] * item["quantity"]
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
        quantities = sa.func.coalesce(sa.func.sum(cart_items.c.quantity), 0)
        items = sa.select(sa.func.count(), quantities, sa.func.max(cart_items.c.updated_at))
        linked = sa.select(sa.func.count(), sa.func.max(identities.c.created_at))
        async with self._engine.connect() as conn:
            lines = (await conn.execute(items.where(cart_items.c.account_id == account_id))).one()
            links = (await conn.execute(linked.where(identities.c.account_id == account_id))).one()
            dm_only = await conn.scalar(
                sa.select(accounts.c.dm_only).where(accounts.c.id == account_id)
            )
        return (*lines, *links, dm_only)
