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
from hashcart.store import dialect_insert
from hashcart.store.schema import (
    accounts,
    cart_items,
    events,
    identities,
    link_tokens,
    orders,
    outbox,
    pending_commands,
    rate_counters,
    web_logins,
    web_signin_limits,
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
            await erase_account(conn, account_id)

    async def orders(self, account_id: str) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            if not await self._exists(conn, account_id):
                raise NotFound(f"no account {account_id!r}")
            rows = await conn.execute(
                sa.select(
                    orders.c.id,
                    orders.c["items"],
                    orders.c.total_cents,
                    orders.c.currency,
                    orders.c.store_reference,
                    orders.c.created_at,
                    orders.c.status,
                )
                .where(orders.c.account_id == account_id)
                .order_by(orders.c.created_at.desc())
            )
            return [dict(row._mapping) for row in rows]

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

    # -- the web: sign-in, link tokens, direct cart changes ---------------------------------------
    # Cart changes from the web bypass the applier: they are the owner's own edits on a page, not
    # platform events, so they need no dedupe and get no platform reply. On PostgreSQL they take
    # the account row lock the applier takes, so a page edit and a platform add never interleave.

    async def create_with_password(self, name: str, password_hash: str) -> dict[str, Any]:
        """A new account that can sign in on the web; `Conflict` when the name is taken."""
        account_id = uuid.uuid4().hex
        now = time.time()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    sa.insert(accounts).values(id=account_id, name=name, created_at=now)
                )
                await conn.execute(
                    sa.insert(web_logins).values(
                        account_id=account_id,
                        password_hash=password_hash,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise Conflict(f"an account named {name!r} exists already") from None
        return {"id": account_id, "name": name}

    async def set_password(
        self, account_id: str, password_hash: str, *, end_sessions: bool = True
    ) -> None:
        """Give an account (one an operator made, say) a web password, or change it.

        A new password ends the account's web sessions (`end_sessions`); re-hashing the same
        password with newer parameters passes False.
        """
        now = time.time()
        async with self._engine.begin() as conn:
            if not await self._exists(conn, account_id):
                raise NotFound(f"no account {account_id!r}")
            if end_sessions:
                await conn.execute(self._next_session_version(account_id))
            insert = dialect_insert(self._engine, web_logins).values(
                account_id=account_id, password_hash=password_hash, created_at=now, updated_at=now
            )
            await conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[web_logins.c.account_id],
                    set_={"password_hash": password_hash, "updated_at": now},
                )
            )

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

    async def claim_token(self, token: str) -> LinkToken | None:
        """Mark a usable link token used; None when it is unknown, used or expired.

        One UPDATE decides, so two confirmations racing for one token cannot both win.
        """
        now = time.time()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.update(link_tokens)
                .where(
                    link_tokens.c.token == token,
                    link_tokens.c.used_at.is_(None),
                    link_tokens.c.expires_at > now,
                )
                .values(used_at=now)
            )
            if result.rowcount != 1:
                return None
            row = (
                await conn.execute(sa.select(link_tokens).where(link_tokens.c.token == token))
            ).one()
        return LinkToken(
            row.token, row.platform, row.user_id, row.user_name, row.expires_at, row.used_at
        )

    async def pending_count(self, platform: str, user_id: str) -> int:
        """How many adds this identity made before it was linked (and that have not expired)."""
        async with self._engine.connect() as conn:
            found = await conn.execute(
                sa.select(sa.func.count()).where(
                    pending_commands.c.platform == platform,
                    pending_commands.c.user_id == user_id,
                    pending_commands.c.expires_at > time.time(),
                )
            )
        return int(found.scalar_one())

    async def release_token(self, token: str) -> None:
        """Make a claimed token usable again (linking failed after the claim)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(link_tokens).where(link_tokens.c.token == token).values(used_at=None)
            )

    async def set_quantity(self, account_id: str, product_id: str, quantity: int) -> bool:
        """Set a cart line's quantity (0 removes it); False when the line is not in the cart."""
        async with self._engine.begin() as conn:
            await self._lock(conn, account_id)
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
            await self._lock(conn, account_id)
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

    async def _lock(self, conn: AsyncConnection, account_id: str) -> None:
        found = await conn.execute(
            sa.select(accounts.c.id).where(accounts.c.id == account_id).with_for_update()
        )
        if found.first() is None:
            raise NotFound(f"no account {account_id!r}")


async def erase_account(conn: AsyncConnection, account_id: str) -> None:
    """Remove an account's personal data inside the caller's transaction.

    Event ids stay (with the person taken out) so a redelivered old event is still recognised and
    changes nothing; only anonymous counts remain.
    """
    linked = list(
        await conn.execute(
            sa.select(identities.c.platform, identities.c.user_id).where(
                identities.c.account_id == account_id
            )
        )
    )
    counters = [rate_counters.c.key.startswith(f"account:{account_id}:", autoescape=True)]
    for platform, user_id in linked:
        identity = f"{platform}:{user_id}"
        counters.append(rate_counters.c.key.startswith(f"identity:{identity}:", autoescape=True))
        counters.append(rate_counters.c.key == f"rejects:{identity}")
        for table in (pending_commands, link_tokens):
            await conn.execute(
                sa.delete(table).where(table.c.platform == platform, table.c.user_id == user_id)
            )
        await conn.execute(
            sa.update(events)
            .where(events.c.platform == platform, events.c.user_id == user_id)
            .values(user_id=None, detail=None, account_id=None)
        )
        await conn.execute(
            sa.update(outbox)
            .where(outbox.c.platform == platform, outbox.c.recipient == user_id)
            .where(outbox.c.status != "pending")
            .values(text="", recipient="", target={}, extra={}, outcome={})
        )
    await conn.execute(
        sa.update(events)
        .where(events.c.account_id == account_id)
        .values(user_id=None, detail=None, account_id=None)
    )
    await conn.execute(sa.delete(rate_counters).where(sa.or_(*counters)))  # who asked when
    await conn.execute(sa.delete(cart_items).where(cart_items.c.account_id == account_id))
    await conn.execute(sa.delete(identities).where(identities.c.account_id == account_id))
    name = await conn.scalar(sa.select(accounts.c.name).where(accounts.c.id == account_id))
    if name is not None:
        await forget_signin_attempts(conn, name)
    await conn.execute(sa.delete(accounts).where(accounts.c.id == account_id))


async def forget_signin_attempts(conn: AsyncConnection, name: str) -> None:
    """Erase the web sign-in attempts counted against an account name: the name someone typed
    is personal data of the account being forgotten."""
    key = signin_name_key(name)
    await conn.execute(sa.delete(web_signin_limits).where(web_signin_limits.c.key == key))


def signin_name_key(name: str) -> str:
    """The `web_signin_limits` key of attempts against a typed account name."""
    return f"name:{name.strip().lower()[:150]}"
