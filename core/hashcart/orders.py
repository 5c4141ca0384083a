"""The order placer: calls the shop for each pending order, outside any transaction.

Any node claims a pending order with a lease, calls `hashcart_place_order` (whose contract says
what is retried and what refuses) and settles the order with its one answer in one transaction.
A node that dies during the call leaves its lease to expire and another asks the shop again with
the same idempotency key; settling only a pending order makes it settled and answered once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import sqlalchemy as sa

from hashcart.commands import CartCommand, CartLine, Order, Outcome, OutcomeCode
from hashcart.i18n import money
from hashcart.logs import current_event
from hashcart.pipeline.prepared import Account, locale_of
from hashcart.platform import SendError
from hashcart.retry import next_delay, too_old
from hashcart.store import dialect_insert, is_outage, is_postgres
from hashcart.store.schema import accounts, cart_items, events, orders, outbox
from hashcart.worker import DrainingWorker

if TYPE_CHECKING:
    from hashcart.app import Hashcart

log = logging.getLogger(__name__)

#: Seconds a claimed order stays reserved for the node calling the shop. The call is cut off
#: well before (`SHOP_TIMEOUT`), so a slow shop does not make a second node call it too.
LEASE_SECONDS = 20.0
SHOP_TIMEOUT = 15.0
#: Pending orders one node claims at a time.
BATCH_SIZE = 32
#: Statuses an order goes through; only a pending one is ever claimed or settled.
PENDING, PLACED, REFUSED = "pending", "placed", "refused"


class OrderPlacer(DrainingWorker):
    worker_name = "order-placer"

    def __init__(self, hashcart: Hashcart) -> None:
        super().__init__(poll_seconds=1.0)
        self._hashcart = hashcart
        self._engine = hashcart.engine
        self._settings = hashcart.settings
        #: The time the placer goes by (due orders, the give-up age); tests move it forward.
        self.clock: Callable[[], float] = time.time
        insert = dialect_insert(self._engine, cart_items)
        # A refused order's lines go back, added to whatever the cart holds by then.
        self._put_back = insert.on_conflict_do_update(
            index_elements=[cart_items.c.account_id, cart_items.c.product_id],
            set_={
                "quantity": cart_items.c.quantity + insert.excluded.quantity,
                "updated_at": insert.excluded.updated_at,
            },
        )

    async def drain_once(self) -> int:
        """Claim due pending orders and ask the shop for each; returns how many were tried."""
        rows = await self._claim()
        if rows:
            await asyncio.gather(*(self._place(row) for row in rows))
        return len(rows)

    async def _claim(self) -> list[Any]:
        now = self.clock()
        due = (
            sa.select(orders.c.id)
            .where(
                orders.c.status == PENDING,
                orders.c.next_attempt_at <= now,
                sa.or_(orders.c.lease_until.is_(None), orders.c.lease_until < now),
            )
            .order_by(orders.c.next_attempt_at)
            .limit(BATCH_SIZE)
        )
        if is_postgres(self._engine):
            due = due.with_for_update(skip_locked=True)
        async with self._hashcart.writing(), self._engine.begin() as conn:
            ids = list((await conn.execute(due)).scalars())
            if not ids:
                return []
            claimed = await conn.execute(
                sa.update(orders)
                .where(orders.c.id.in_(ids))
                .values(lease_until=now + LEASE_SECONDS, attempts=orders.c.attempts + 1)
                .returning(*orders.c)
            )
            return list(claimed)

    async def _place(self, row: Any) -> None:
        current_event.set(row.event_key)
        lines = tuple(CartLine(**line) for line in row.items)
        order = Order(row.id, row.account_id, lines, row.total_cents, row.currency, row.attempts)
        try:
            reference = await asyncio.wait_for(
                self._hashcart.plugins.first(
                    "hashcart_place_order", order=order, hashcart=self._hashcart
                ),
                SHOP_TIMEOUT,
            )
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:500]
            hint = shop_away(exc)
            if hint is None:
                log.warning("the shop refused order %s: %s", row.id, reason)
                await self._settle_logged(row, REFUSED, None, reason)
            elif too_old(row.created_at, self.clock(), self._settings.retry_give_up_minutes):
                log.warning("order %s given up after %d tries: %s", row.id, row.attempts, reason)
                await self._settle_logged(row, REFUSED, None, f"shop unreachable: {reason}"[:500])
            else:
                log.info("order %s waits for the shop: %s", row.id, reason)
                await self._later(row, reason, next_delay(row.attempts, hint))
            return
        stored = str(reference)[:200] if reference is not None else None
        await self._settle_logged(row, PLACED, stored, None)

    async def _later(self, row: Any, reason: str, delay: float) -> None:
        """Try again after `delay`; the lease is released at once so any node can."""
        async with self._hashcart.writing(), self._engine.begin() as conn:
            await conn.execute(
                sa.update(orders)
                .where(orders.c.id == row.id, orders.c.status == PENDING)
                .values(lease_until=None, next_attempt_at=self.clock() + delay, last_error=reason)
            )

    async def _settle_logged(
        self, row: Any, status: str, reference: str | None, error: str | None
    ) -> None:
        """Settle; when the database is away the lease runs out and the shop is asked again
        (with the same idempotency key), so the decision is not lost, only repeated."""
        try:
            settled = await self._settle(row, status, reference, error)
        except Exception as exc:
            log.warning("order %s is %s but could not be recorded yet: %s", row.id, status, exc)
            return
        if settled and self._hashcart.sender is not None:
            self._hashcart.sender.wake()

    async def _settle(
        self, row: Any, status: str, reference: str | None, error: str | None
    ) -> bool:
        now = self.clock()
        lines = tuple(CartLine(**line) for line in row.items)
        code = OutcomeCode.ORDER_PLACED if status == PLACED else OutcomeCode.ORDER_REFUSED
        async with self._hashcart.writing(), self._engine.begin() as conn:
            changed = await conn.execute(
                sa.update(orders)
                .where(orders.c.id == row.id, orders.c.status == PENDING)
                .values(
                    status=status,
                    store_reference=reference,
                    last_error=error,
                    lease_until=None,
                    settled_at=now,
                )
                .returning(orders.c.id)
            )
            if changed.first() is None:
                return False  # another node settled it first (or the account was erased)
            columns = (accounts.c.id, accounts.c.dm_only, accounts.c.locale, accounts.c.language)
            query = sa.select(*columns).where(accounts.c.id == row.account_id)
            found = (await conn.execute(query)).first()
            account = Account(*found) if found else None
            command = CartCommand.from_json(row.command) if row.command else None
            if status == REFUSED:
                await conn.execute(
                    self._put_back,
                    [
                        {
                            "account_id": row.account_id,
                            "product_id": line.product_id,
                            "title": line.title,
                            "price_cents": line.price_cents,
                            "currency": line.currency,
                            "quantity": line.quantity,
                            "added_via": command.platform if command else "web",
                            "added_at": now,
                            "updated_at": now,
                        }
                        for line in lines
                    ],
                )
            await conn.execute(
                sa.update(events).where(events.c.event_key == row.event_key).values(outcome=code)
            )
            if command is not None:
                locale = locale_of(account, command)
                outcome = Outcome(
                    code,
                    {
                        "order_id": row.id,
                        "total": money(row.total_cents, row.currency, locale),
                        "total_cents": row.total_cents,
                        "count": sum(line.quantity for line in lines),
                    },
                    cart=lines,
                )
                reply = await self._hashcart.applier.reply_row(command, account, outcome, now)
                await conn.execute(sa.insert(outbox), [reply])
        return True


def shop_away(exc: BaseException) -> float | None:
    """Whether the shop (or the way to it) is away rather than refusing: the seconds it asked
    to wait (0 for no hint), or None when the failure is a refusal."""
    if isinstance(exc, SendError):
        return exc.retry_after if exc.retryable else None
    if isinstance(exc, aiohttp.ClientResponseError):
        return 0.0 if exc.status == 429 or exc.status >= 500 else None
    unreachable = isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ServerTimeoutError)
    return 0.0 if unreachable or is_outage(exc) else None  # is_outage: time-outs, the database
