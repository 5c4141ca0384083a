"""Applying commands: one transaction records the event, changes the cart and queues the reply.

Commands are applied in groups: while one group commits, the next gathers, so a burst costs a
few commits rather than one per command. Each command keeps its own guarantees inside the group:
it is recorded once per event key (a redelivery finds the key and changes nothing), and if the
group's transaction fails every command in it is retried on its own, so one bad command cannot
sink its neighbours and none is half-applied.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hashcart.commands import (
    Action,
    CartCommand,
    CartLine,
    Outcome,
    OutcomeCode,
    Product,
)
from hashcart.errors import Unavailable
from hashcart.i18n import money, normalise_locale
from hashcart.platform import ReplyContent
from hashcart.policy_api import RateDecision
from hashcart.store import dialect_insert
from hashcart.store.schema import (
    accounts,
    cart_items,
    events,
    identities,
    link_tokens,
    outbox,
    pending_commands,
    rate_counters,
)

if TYPE_CHECKING:
    from hashcart.app import Hashcart

log = logging.getLogger(__name__)

#: Actions that need a linked account.
ACCOUNT_ACTIONS = frozenset(
    {
        Action.ADD,
        Action.REMOVE,
        Action.LIST,
        Action.CLEAR,
        Action.PRIVACY,
        Action.FORGET,
        Action.CHECKOUT,
        Action.CONFIRM,
    }
)


@dataclass
class Prepared:
    """A command with what was learnt about it before its transaction (product, early verdict)."""

    command: CartCommand
    product: Product | None = None
    early: Outcome | None = None
    after_link: bool = False
    started: float = field(default_factory=time.perf_counter)
    future: asyncio.Future[Outcome] | None = None


@dataclass(frozen=True)
class _Account:
    id: str
    dm_only: bool
    locale: str | None


class _Policy:
    """The `PolicyContext` handed to `hashcart_check_command`, bound to one transaction."""

    def __init__(self, applier: Applier, conn: AsyncConnection, account_id: str | None, now: float):
        self._applier = applier
        self._conn = conn
        self._account_id = account_id
        self._now = now

    @property
    def account_id(self) -> str | None:
        return self._account_id

    @property
    def now(self) -> float:
        return self._now

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        window = int(self._now // window_seconds) * window_seconds
        insert = self._applier.insert(rate_counters)
        stmt = (
            insert.values(key=key, window_start=window, count=1)
            .on_conflict_do_update(
                index_elements=[rate_counters.c.key],
                set_={
                    "count": sa.case(
                        (rate_counters.c.window_start == window, rate_counters.c.count + 1),
                        else_=1,
                    ),
                    "window_start": window,
                },
            )
            .returning(rate_counters.c.count)
        )
        count = (await self._conn.execute(stmt)).scalar_one()
        return RateDecision(
            allowed=count <= limit,
            count=count,
            limit=limit,
            retry_after=window + window_seconds - self._now,
        )


class Applier:
    """Gathers submitted commands into groups and applies each group in one transaction."""

    def __init__(self, hashcart: Hashcart, *, max_batch: int = 256, workers: int = 1) -> None:
        self._hashcart = hashcart
        self._engine = hashcart.engine
        self._queue: asyncio.Queue[Prepared] = asyncio.Queue()
        self._max_batch = max_batch
        self._workers_count = workers
        self._workers: list[asyncio.Task[None]] = []
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def insert(self, table: sa.Table) -> Any:
        return dialect_insert(self._engine, table)

    def start(self) -> None:
        for index in range(self._workers_count):
            self._workers.append(asyncio.create_task(self._work(), name=f"hashcart-apply-{index}"))

    async def stop(self) -> None:
        """Finish everything already submitted, then stop the workers."""
        await self._idle.wait()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()

    async def submit(self, prepared: Prepared) -> Outcome:
        prepared.future = asyncio.get_running_loop().create_future()
        self._in_flight += 1
        self._idle.clear()
        try:
            self._queue.put_nowait(prepared)
            return await prepared.future
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _work(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._run(batch)

    async def _run(self, batch: list[Prepared]) -> None:
        try:
            outcomes = await self._apply_group(batch)
        except Exception as exc:
            if len(batch) == 1:
                log.warning("command %s not applied: %s", batch[0].command.event_key, exc)
                self._fail(batch[0], exc)
                return
            log.info("group of %d failed (%s); applying one by one", len(batch), exc)
            for item in batch:
                await self._run([item])
            return
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.future is not None and not item.future.done():
                item.future.set_result(outcome)
        self._hashcart.after_commit(batch, outcomes)

    def _fail(self, item: Prepared, exc: Exception) -> None:
        if item.future is not None and not item.future.done():
            item.future.set_exception(Unavailable(f"command not recorded: {type(exc).__name__}"))

    async def _apply_group(self, batch: Sequence[Prepared]) -> list[Outcome]:
        now = time.time()
        keys = [item.command.event_key for item in batch]
        async with self._engine.begin() as conn:
            recorded = set(
                (
                    await conn.execute(
                        sa.select(events.c.event_key).where(events.c.event_key.in_(keys))
                    )
                ).scalars()
            )
            known = await self._accounts(conn, batch)
            outcomes: list[Outcome] = []
            event_rows: list[dict[str, Any]] = []
            reply_rows: list[dict[str, Any]] = []
            for item in batch:
                command = item.command
                if command.event_key in recorded:
                    outcomes.append(Outcome(OutcomeCode.DUPLICATE, silent=True))
                    continue
                recorded.add(command.event_key)
                account = known.get((command.platform, command.user_id))
                outcome = await self._decide(conn, item, account, now)
                if outcome.code in (OutcomeCode.UNLINKED,):
                    known.pop((command.platform, command.user_id), None)
                outcomes.append(outcome)
                event_rows.append(self._event_row(command, account, outcome, now))
                if not outcome.silent:
                    reply_rows.append(await self._reply_row(command, account, outcome, now))
            if event_rows:
                await conn.execute(sa.insert(events), event_rows)
            if reply_rows:
                await conn.execute(sa.insert(outbox), reply_rows)
        return outcomes

    async def _accounts(
        self, conn: AsyncConnection, batch: Sequence[Prepared]
    ) -> dict[tuple[str, str], _Account]:
        pairs = {(item.command.platform, item.command.user_id) for item in batch}
        rows = await conn.execute(
            sa.select(
                identities.c.platform,
                identities.c.user_id,
                accounts.c.id,
                accounts.c.dm_only,
                accounts.c.locale,
            )
            .join(accounts, accounts.c.id == identities.c.account_id)
            .where(sa.tuple_(identities.c.platform, identities.c.user_id).in_(list(pairs)))
        )
        return {(r.platform, r.user_id): _Account(r.id, r.dm_only, r.locale) for r in rows}

    async def _decide(
        self, conn: AsyncConnection, item: Prepared, account: _Account | None, now: float
    ) -> Outcome:
        command = item.command
        policy = _Policy(self, conn, account.id if account else None, now)
        refusal: Outcome | None = await self._hashcart.plugins.first(
            "hashcart_check_command", command=command, context=policy, hashcart=self._hashcart
        )
        if refusal is not None:
            return refusal
        if item.early is not None:
            return item.early
        action = command.action
        if action is Action.HELP:
            return Outcome(OutcomeCode.HELP, {"hashtag": self._hashcart.settings.hashtag})
        if action is Action.LINK:
            return Outcome(
                OutcomeCode.LINK_SENT, {"link_url": await self._token(conn, command, now)}
            )
        if action is Action.UNLINK:
            if account is None:
                return Outcome(OutcomeCode.NOT_LINKED)
            await conn.execute(
                sa.delete(identities).where(
                    identities.c.platform == command.platform,
                    identities.c.user_id == command.user_id,
                )
            )
            return Outcome(OutcomeCode.UNLINKED, {"platform": command.platform})
        if account is None:
            params: dict[str, Any] = {"link_url": await self._token(conn, command, now)}
            if action is Action.ADD and item.product is not None:
                params["title"] = item.product.title
                await conn.execute(
                    sa.insert(pending_commands).values(
                        platform=command.platform,
                        user_id=command.user_id,
                        command=command.to_json(),
                        created_at=now,
                        expires_at=now + self._hashcart.settings.link_token_minutes * 60,
                    )
                )
            return Outcome(OutcomeCode.LINK_NEEDED, params)
        if action is Action.ADD and item.product is not None:
            return await self._add(conn, account, item, now)
        if action is Action.REMOVE and command.product is not None:
            return await self._remove(conn, account, command, now)
        if action is Action.LIST:
            lines = await self._lines(conn, account.id)
            if not lines:
                return Outcome(OutcomeCode.CART_EMPTY)
            return self._listing(lines, account, command)
        if action is Action.CLEAR:
            await conn.execute(sa.delete(cart_items).where(cart_items.c.account_id == account.id))
            return Outcome(OutcomeCode.CLEARED)
        if action is Action.PRIVACY:
            return await self._privacy(conn, account, command)
        return Outcome(OutcomeCode.NOT_SUPPORTED, {"action": action.value})

    async def _add(
        self, conn: AsyncConnection, account: _Account, item: Prepared, now: float
    ) -> Outcome:
        product, command = item.product, item.command
        assert product is not None
        insert = self.insert(cart_items)
        stmt = (
            insert.values(
                account_id=account.id,
                product_id=product.product_id,
                title=product.title,
                price_cents=product.price_cents,
                currency=product.currency,
                quantity=command.quantity,
                added_via=command.platform,
                added_at=now,
                updated_at=now,
            )
            .on_conflict_do_update(
                index_elements=[cart_items.c.account_id, cart_items.c.product_id],
                set_={
                    "quantity": cart_items.c.quantity + insert.excluded.quantity,
                    "title": insert.excluded.title,
                    "price_cents": insert.excluded.price_cents,
                    "currency": insert.excluded.currency,
                    "updated_at": now,
                },
            )
            .returning(cart_items.c.quantity)
        )
        quantity = (await conn.execute(stmt)).scalar_one()
        params = {
            "title": product.title,
            "product_id": product.product_id,
            "quantity": quantity,
            "added": command.quantity,
            "cart_url": self._hashcart.cart_url,
        }
        if item.after_link:
            return Outcome(OutcomeCode.PENDING_APPLIED, params)
        code = OutcomeCode.ADDED if quantity == command.quantity else OutcomeCode.INCREASED
        return Outcome(code, params)

    async def _remove(
        self, conn: AsyncConnection, account: _Account, command: CartCommand, now: float
    ) -> Outcome:
        assert command.product is not None
        product_id = command.product.product_id
        where = sa.and_(
            cart_items.c.account_id == account.id, cart_items.c.product_id == product_id
        )
        row = (
            await conn.execute(sa.select(cart_items.c.title, cart_items.c.quantity).where(where))
        ).first()
        if row is None:
            return Outcome(OutcomeCode.NOT_IN_CART, {"title": product_id, "product_id": product_id})
        left = row.quantity - command.quantity
        params = {"title": row.title, "product_id": product_id, "quantity": max(left, 0)}
        if left <= 0:
            await conn.execute(sa.delete(cart_items).where(where))
            return Outcome(OutcomeCode.REMOVED, params)
        await conn.execute(sa.update(cart_items).where(where).values(quantity=left, updated_at=now))
        return Outcome(OutcomeCode.DECREASED, params)

    async def _lines(self, conn: AsyncConnection, account_id: str) -> list[CartLine]:
        rows = await conn.execute(
            sa.select(
                cart_items.c.product_id,
                cart_items.c.title,
                cart_items.c.quantity,
                cart_items.c.price_cents,
                cart_items.c.currency,
            )
            .where(cart_items.c.account_id == account_id)
            .order_by(cart_items.c.added_at, cart_items.c.product_id)
        )
        return [CartLine(*row) for row in rows]

    def _listing(self, lines: list[CartLine], account: _Account, command: CartCommand) -> Outcome:
        locale = account.locale or command.locale
        currency = lines[0].currency
        total = sum(line.price_cents * line.quantity for line in lines)
        text = ", ".join(f"{line.quantity}× {line.title}" for line in lines)
        return Outcome(
            OutcomeCode.LISTED,
            {
                "lines": text,
                "total": money(total, currency, locale),
                "total_cents": total,
                "count": sum(line.quantity for line in lines),
                "cart_url": self._hashcart.cart_url,
            },
            cart=tuple(lines),
        )

    async def _privacy(
        self, conn: AsyncConnection, account: _Account, command: CartCommand
    ) -> Outcome:
        wanted = (command.argument or "").strip().lower()
        if wanted in ("on", "off"):
            dm_only = wanted == "on"
            await conn.execute(
                sa.update(accounts).where(accounts.c.id == account.id).values(dm_only=dm_only)
            )
        else:
            dm_only = account.dm_only
        return Outcome(OutcomeCode.PRIVACY_ON if dm_only else OutcomeCode.PRIVACY_OFF)

    async def _token(self, conn: AsyncConnection, command: CartCommand, now: float) -> str:
        token = secrets.token_urlsafe(24)
        await conn.execute(
            sa.insert(link_tokens).values(
                token=token,
                platform=command.platform,
                user_id=command.user_id,
                user_name=command.user_name,
                created_at=now,
                expires_at=now + self._hashcart.settings.link_token_minutes * 60,
            )
        )
        return f"{self._hashcart.settings.public_url}/link/{token}"

    def _event_row(
        self, command: CartCommand, account: _Account | None, outcome: Outcome, now: float
    ) -> dict[str, Any]:
        product_id = command.product.product_id if command.product else None
        return {
            "event_key": command.event_key,
            "platform": command.platform,
            "user_id": command.user_id,
            "account_id": account.id if account else None,
            "action": command.action.value,
            "product_id": product_id or outcome.params.get("product_id"),
            "outcome": outcome.code.value,
            "detail": (command.reference or "")[:500] or None,
            "created_at": now,
        }

    async def _reply_row(
        self, command: CartCommand, account: _Account | None, outcome: Outcome, now: float
    ) -> dict[str, Any]:
        private = command.reply_to.private or (account.dm_only if account else False)
        target = replace(command.reply_to, private=private)
        locale = normalise_locale((account.locale if account else None) or command.locale)
        content: ReplyContent = await self._hashcart.plugins.first(
            "hashcart_format_reply",
            command=command,
            outcome=outcome,
            locale=locale,
            hashcart=self._hashcart,
        )
        return {
            "event_key": command.event_key,
            "platform": command.platform,
            "recipient": target.user,
            "target": target.to_json(),
            "text": content.text,
            "extra": dict(content.extra),
            "outcome": outcome.to_json(),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
