"""Applying commands: one transaction records the event, changes the cart and queues the reply.

Commands are applied in groups: while one group commits, the next gathers, so a burst costs a
few commits rather than one per command. Each command keeps its own guarantees inside the group:
it is recorded once per event key (a redelivery finds the key and changes nothing; a command
setting a state, `hashcart.StateChange`, once per change of that state), and if the
group's transaction fails every command in it is retried on its own, so one bad command cannot
sink its neighbours and none is half-applied.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hashcart.accounts import erase_account
from hashcart.commands import (
    Action,
    CartCommand,
    CartLine,
    Outcome,
    OutcomeCode,
    Product,
    ReplyTarget,
)
from hashcart.errors import Unavailable
from hashcart.handoff import handoffs, line_texts, money_totals, totals
from hashcart.i18n import money, normalise_locale
from hashcart.platform import ReplyContent
from hashcart.policy_api import RateDecision
from hashcart.states import set_absent_statement, set_present_statement
from hashcart.store import dialect_insert, is_outage, is_postgres
from hashcart.store.counters import PEEK, hit_statement, window_start
from hashcart.store.db import describe_failure
from hashcart.store.schema import (
    accounts,
    cart_items,
    events,
    identities,
    link_tokens,
    orders,
    outbox,
    pending_commands,
    plugin_kv,
)

if TYPE_CHECKING:
    from hashcart.app import Hashcart

log = logging.getLogger(__name__)

#: Failures of its own making after which a command is parked instead of retried.
POISON_TRIES = 3

#: The key-value namespace where a pending `forget` waits for its confirmation.
FORGET = "forget"
#: The key-value namespace where a checkout or a large add waits for `confirm`.
CONFIRM = "confirm"


@dataclass
class Prepared:
    """A command with what was learnt about it before its transaction (product, early verdict)."""

    command: CartCommand
    product: Product | None = None
    early: Outcome | None = None
    after_link: bool = False
    future: asyncio.Future[Outcome] | None = None
    #: The account the command acted on, once applied (live updates of its cart page).
    account_id: str | None = None
    #: Taken into a group's transaction: from then on its outcome is only moments away.
    taken: bool = False
    #: Given up by its submitter before any transaction took it: never applied.
    withdrawn: bool = False
    #: For a `confirm`: the cart's products looked up again, so a checkout is confirmed at the
    #: prices and stock of now (None: not looked up).
    fresh: dict[str, Product | None] | None = None


@dataclass
class _Account:
    id: str
    dm_only: bool
    locale: str | None


@dataclass
class _Line:
    title: str
    price_cents: int
    currency: str
    quantity: int
    added_via: str
    added_at: float
    url: str | None = None
    image_url: str | None = None
    priced_at: float | None = None

    def state(self) -> tuple[Any, ...]:
        return (self.quantity, self.title, self.price_cents, self.currency, self.priced_at)


class _Carts:
    """The carts a group touches, read once, changed in memory, written back as a diff.

    Reading every cart once and writing the changes with one statement per kind is what makes a
    group cheap: a statement costs about a millisecond through aiosqlite, whatever it does.
    """

    def __init__(self, rows: Iterable[Any]) -> None:
        self.lines: dict[str, dict[str, _Line]] = {}
        self._before: dict[tuple[str, str], tuple[Any, ...]] = {}
        for row in rows:
            line = self.lines.setdefault(row.account_id, {})[row.product_id] = _Line(
                row.title, row.price_cents, row.currency, row.quantity, row.added_via,
                row.added_at, row.url, row.image_url, row.priced_at,
            )  # fmt: skip
            self._before[(row.account_id, row.product_id)] = line.state()

    def of(self, account_id: str) -> dict[str, _Line]:
        return self.lines.setdefault(account_id, {})

    def changes(
        self, now: float
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """Rows to insert, rows to update and rows to delete."""
        inserts, updates, deletes = [], [], []
        after = {
            (account_id, product_id): line
            for account_id, cart in self.lines.items()
            for product_id, line in cart.items()
        }
        for key, line in after.items():
            account_id, product_id = key
            row = {"account_id": account_id, "product_id": product_id}
            if key not in self._before:
                inserts.append(
                    {**row, "title": line.title, "price_cents": line.price_cents,
                     "currency": line.currency, "quantity": line.quantity,
                     "added_via": line.added_via, "added_at": line.added_at, "updated_at": now,
                     "url": line.url, "image_url": line.image_url, "priced_at": line.priced_at}
                )  # fmt: skip
            elif self._before[key] != line.state():
                updates.append(
                    {"b_account_id": account_id, "b_product_id": product_id,
                     "quantity": line.quantity, "title": line.title,
                     "price_cents": line.price_cents, "currency": line.currency,
                     "url": line.url, "image_url": line.image_url,
                     "priced_at": line.priced_at, "updated_at": now}
                )  # fmt: skip
        for key in self._before:
            if key not in after:
                deletes.append({"b_account_id": key[0], "b_product_id": key[1]})
        return inserts, updates, deletes


class _Policy:
    """The `PolicyContext` handed to `hashcart_check_command`, bound to one transaction."""

    def __init__(
        self, applier: Applier, conn: AsyncConnection, account_id: str | None, now: float,
        item: Prepared,
    ) -> None:  # fmt: skip
        self._applier = applier
        self._conn = conn
        self._account_id = account_id
        self._now = now
        self._item = item

    @property
    def expected(self) -> Outcome | None:
        return self._item.early

    @property
    def product(self) -> Product | None:
        return self._item.product

    async def peek(self, key: str, window_seconds: int) -> int:
        window = window_start(self._now, window_seconds)
        count = await self._conn.scalar(
            self._applier.statements.peek_hits, {"key": key, "window_start": window}
        )
        return int(count or 0)

    @property
    def account_id(self) -> str | None:
        return self._account_id

    @property
    def now(self) -> float:
        return self._now

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        window = window_start(self._now, window_seconds)
        result = await self._conn.execute(
            self._applier.statements.count_hit, {"key": key, "window_start": window, "count": 1}
        )
        count = result.scalar_one()
        return RateDecision(
            allowed=count <= limit,
            count=count,
            limit=limit,
            retry_after=window + window_seconds - self._now,
        )


class _Statements:
    """Statements built once per engine: building them per command costs more than running them."""

    def __init__(self, insert: Any, postgres: bool) -> None:
        self.count_hit = hit_statement(insert)
        self.peek_hits = PEEK
        self.recorded = sa.select(events.c.event_key).where(
            events.c.event_key.in_(sa.bindparam("keys", expanding=True))
        )
        self.accounts = (
            sa.select(
                identities.c.platform,
                identities.c.user_id,
                accounts.c.id,
                accounts.c.dm_only,
                accounts.c.locale,
            )
            .join(accounts, accounts.c.id == identities.c.account_id)
            .where(identities.c.user_id.in_(sa.bindparam("user_ids", expanding=True)))
            .order_by(accounts.c.id)
        )
        if postgres:
            # Concurrent groups (several workers, several nodes) lock the accounts they touch,
            # in one order (rows are locked as they leave the sort), so they cannot deadlock.
            self.accounts = self.accounts.with_for_update(of=accounts)
        self.carts = sa.select(cart_items).where(
            cart_items.c.account_id.in_(sa.bindparam("ids", expanding=True))
        )
        same_line = sa.and_(
            cart_items.c.account_id == sa.bindparam("b_account_id"),
            cart_items.c.product_id == sa.bindparam("b_product_id"),
        )
        self.insert_lines = sa.insert(cart_items)
        self.update_lines = sa.update(cart_items).where(same_line)
        self.delete_lines = sa.delete(cart_items).where(same_line)
        self.unlink = sa.delete(identities).where(
            identities.c.platform == sa.bindparam("b_platform"),
            identities.c.user_id == sa.bindparam("b_user_id"),
        )
        self.privacy = (
            sa.update(accounts)
            .where(accounts.c.id == sa.bindparam("b_id"))
            .values(dm_only=sa.bindparam("dm_only"))
        )
        kv = insert(plugin_kv)
        self.kv_put = kv.on_conflict_do_update(
            index_elements=[plugin_kv.c.namespace, plugin_kv.c.key],
            set_={"value": kv.excluded.value, "expires_at": kv.excluded.expires_at},
        )
        self.orders = sa.insert(orders)
        self.kv_get = sa.select(plugin_kv.c.expires_at, plugin_kv.c.value).where(
            plugin_kv.c.namespace == sa.bindparam("namespace"),
            plugin_kv.c.key == sa.bindparam("key"),
        )
        self.kv_expiry = sa.select(plugin_kv.c.expires_at).where(
            plugin_kv.c.namespace == sa.bindparam("namespace"),
            plugin_kv.c.key == sa.bindparam("key"),
        )
        self.kv_delete = sa.delete(plugin_kv).where(
            plugin_kv.c.namespace == sa.bindparam("namespace"),
            plugin_kv.c.key == sa.bindparam("key"),
        )
        self.tokens = sa.insert(link_tokens)
        self.pending = sa.insert(pending_commands)
        self.record_events = sa.insert(events)
        claim = insert(events)
        self.claim_events = claim.on_conflict_do_nothing(
            index_elements=[events.c.event_key]
        ).returning(events.c.event_key)
        self.settle_events = (
            sa.update(events)
            .where(events.c.event_key == sa.bindparam("b_event_key"))
            .values(
                user_id=sa.bindparam("user_id"),
                account_id=sa.bindparam("account_id"),
                product_id=sa.bindparam("product_id"),
                outcome=sa.bindparam("outcome"),
                detail=sa.bindparam("detail"),
            )
        )
        self.queue_replies = sa.insert(outbox)
        self.set_present = set_present_statement(insert)
        self.set_absent = set_absent_statement()


class _Group:
    """The working state of one group's transaction: what it read and what it will write."""

    def __init__(
        self, conn: AsyncConnection, now: float, known: dict[tuple[str, str], _Account],
        carts: _Carts,
    ) -> None:  # fmt: skip
        self.conn = conn
        self.now = now
        self.known = known
        self.carts = carts
        self.tokens: list[dict[str, Any]] = []
        self.forget_asked: dict[str, float] = {}
        self.confirmations: dict[str, tuple[dict[str, Any], float] | None] = {}
        self.orders: list[dict[str, Any]] = []
        self.forgotten: list[str] = []
        self.pending: list[dict[str, Any]] = []
        self.unlinked: list[dict[str, Any]] = []
        self.privacy: dict[str, bool] = {}
        self.events: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []

    async def flush(self, statements: _Statements) -> None:
        conn = self.conn
        inserts, updates, deletes = self.carts.changes(self.now)
        writes: list[tuple[Any, list[dict[str, Any]]]] = [
            (statements.insert_lines, inserts),
            (statements.update_lines, updates),
            (statements.delete_lines, deletes),
            (statements.unlink, self.unlinked),
            (statements.privacy, [{"b_id": k, "dm_only": v} for k, v in self.privacy.items()]),
            (statements.tokens, self.tokens),
            (statements.pending, self.pending),
            (statements.settle_events, self.events),
            (statements.queue_replies, self.replies),
        ]
        for statement, rows in writes:
            if rows:
                await conn.execute(statement, rows)
        for account_id, expires in self.forget_asked.items():
            await conn.execute(
                statements.kv_put,
                {"namespace": FORGET, "key": account_id, "value": {}, "expires_at": expires},
            )
        for account_id, waiting in self.confirmations.items():
            if waiting is None:
                await conn.execute(statements.kv_delete, {"namespace": CONFIRM, "key": account_id})
            else:
                await conn.execute(
                    statements.kv_put,
                    {
                        "namespace": CONFIRM,
                        "key": account_id,
                        "value": waiting[0],
                        "expires_at": waiting[1],
                    },
                )
        if self.orders:
            await conn.execute(statements.orders, self.orders)
        for account_id in self.forgotten:
            await conn.execute(statements.kv_delete, {"namespace": FORGET, "key": account_id})
            await erase_account(conn, account_id)


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
        self.statements = _Statements(self.insert, is_postgres(self._engine))

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

    async def submit(self, prepared: Prepared, *, deadline: float | None = None) -> Outcome:
        """The outcome once recorded. With a `deadline` (event-loop time) a command still waiting
        for a transaction then is withdrawn and `Unavailable` raised: it will never be applied,
        so the caller may say so. One already inside a transaction is waited for."""
        loop = asyncio.get_running_loop()
        prepared.future = loop.create_future()
        self._in_flight += 1
        self._idle.clear()
        try:
            self._queue.put_nowait(prepared)
            if deadline is None:
                return await prepared.future
            try:
                return await asyncio.wait_for(
                    asyncio.shield(prepared.future), max(0.0, deadline - loop.time())
                )
            except TimeoutError:
                if prepared.taken:
                    return await prepared.future
                prepared.withdrawn = True
                raise Unavailable("command not recorded in time; withdrawn") from None
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _work(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [item for item in batch if not item.withdrawn]
            for item in batch:
                item.taken = True
            if not batch:
                continue
            try:
                await self._run(batch)
            except Exception as exc:  # a worker that died would leave every later command waiting
                log.exception("applying a group failed unexpectedly")
                for item in batch:
                    self._fail(item, exc)

    async def _run(self, batch: list[Prepared]) -> None:
        try:
            outcomes = await self._apply_group(batch)
        except Exception as exc:
            if len(batch) == 1:
                await self._failed_alone(batch[0], exc)
                return
            log.info(
                "group of %d failed (%s); applying one by one", len(batch), describe_failure(exc)
            )
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

    async def _failed_alone(self, item: Prepared, exc: Exception) -> None:
        """A command that fails on its own: retryable when the database is away; parked after
        `POISON_TRIES` failures of its own making, so redeliveries stop and the rest flows."""
        key = item.command.event_key
        if is_outage(exc):
            log.warning(
                "command %s not applied, database unavailable: %s", key, describe_failure(exc)
            )
            self._fail(item, exc)
            return
        log.warning("command %s failed: %s", key, describe_failure(exc))
        try:
            outcome = await self._count_or_park(item, exc)
        except Exception as second:
            log.warning("command %s could not be parked: %s", key, describe_failure(second))
            self._fail(item, exc)
            return
        if outcome is None:
            self._fail(item, exc)
            return
        if item.future is not None and not item.future.done():
            item.future.set_result(outcome)
        self._hashcart.after_commit([item], [outcome])

    async def _count_or_park(self, item: Prepared, exc: Exception) -> Outcome | None:
        command = item.command
        now = time.time()
        async with self._hashcart.writing(), self._engine.begin() as conn:
            tries = (
                await conn.execute(
                    self.statements.count_hit,
                    {"key": f"poison:{command.event_key}", "window_start": 0, "count": 1},
                )
            ).scalar_one()
            if tries < POISON_TRIES:
                return None
            if await conn.scalar(self.statements.recorded, {"keys": [command.event_key]}):
                return Outcome(OutcomeCode.DUPLICATE, silent=True)
            outcome = Outcome(OutcomeCode.FAILED, {"error": describe_failure(exc)})
            row = self._event_row(command, None, outcome, now)
            row["detail"] = outcome.params["error"]
            # Parking must not fail on the very value that made the command fail.
            await conn.execute(self.statements.record_events, [_fitted(events, row)])
            locale = normalise_locale(command.locale)
            text = self._hashcart.translate(locale, "reply.failed")
            reply = self._plain_reply_row(command, outcome, text, now)
            await conn.execute(self.statements.queue_replies, [reply])
        log.error(
            "command %s parked after %d failures: %s",
            command.event_key,
            tries,
            describe_failure(exc),
        )
        return outcome

    async def _apply_group(self, batch: Sequence[Prepared]) -> list[Outcome]:
        statements = self.statements
        now = time.time()
        async with self._hashcart.writing(), self._engine.begin() as conn:
            # A command setting a state that already holds is a duplicate: None here.
            changes = await self._state_changes(conn, batch, now)
            firsts: dict[str, Prepared] = {}
            for change in changes:
                if change is not None:
                    firsts.setdefault(change.command.event_key, change)
            # Claiming the event ids first makes a concurrent copy of an event (another worker,
            # another node) wait for this transaction and then find the id taken.
            claims = [
                {
                    "event_key": key,
                    "platform": item.command.platform,
                    "action": item.command.action.value,
                    "outcome": "pending",
                    "created_at": now,
                }
                for key, item in firsts.items()
            ]
            claimed = (
                set((await conn.execute(statements.claim_events, claims)).scalars())
                if claims
                else set()
            )
            known = await self._accounts(conn, list(firsts.values()))
            account_ids = sorted({account.id for account in known.values()})
            rows: Iterable[Any] = (
                await conn.execute(statements.carts, {"ids": account_ids}) if account_ids else []
            )
            group = _Group(conn, now, known, _Carts(rows))
            outcomes: list[Outcome] = []
            for item in changes:
                if (
                    item is None
                    or item.command.event_key not in claimed
                    or firsts[item.command.event_key] is not item
                ):
                    outcomes.append(Outcome(OutcomeCode.DUPLICATE, silent=True))
                    continue
                command = item.command
                account = known.get((command.platform, command.user_id))
                item.account_id = account.id if account else None
                outcome = await self._decide(group, item, account)
                outcomes.append(outcome)
                group.events.append(self._settled_row(command, account, outcome, group.now))
                if not outcome.silent:
                    group.replies.append(await self.reply_row(command, account, outcome, group.now))
            await group.flush(statements)
        return outcomes

    async def _state_changes(
        self, conn: AsyncConnection, batch: Sequence[Prepared], now: float
    ) -> list[Prepared | None]:
        """Each command as it is to be applied: a state command whose state changed gets the
        change's version in its event id; one whose state already holds becomes None.

        States are flipped in key order (a key's commands keeping theirs), so concurrent groups
        lock state rows in one order and cannot deadlock on them.
        """
        changes: list[Prepared | None] = list(batch)
        stated = [index for index, item in enumerate(batch) if item.command.state is not None]
        for index in sorted(stated, key=lambda i: _state_key(batch[i].command)):
            command = batch[index].command
            assert command.state is not None
            statement = (
                self.statements.set_present if command.state.present else self.statements.set_absent
            )
            result = await conn.execute(statement, {"b_state_key": command.state.key, "b_now": now})
            version = result.scalar()
            if version is None:
                changes[index] = None
            else:
                versioned = replace(command, event_id=f"{command.event_id}#{version}")
                changes[index] = replace(batch[index], command=versioned)
        return changes

    async def _accounts(
        self, conn: AsyncConnection, batch: Sequence[Prepared]
    ) -> dict[tuple[str, str], _Account]:
        pairs = {(item.command.platform, item.command.user_id) for item in batch}
        user_ids = sorted({user_id for _, user_id in pairs})
        rows = await conn.execute(self.statements.accounts, {"user_ids": user_ids})
        return {
            (r.platform, r.user_id): _Account(r.id, r.dm_only, r.locale)
            for r in rows
            if (r.platform, r.user_id) in pairs
        }

    async def _decide(self, group: _Group, item: Prepared, account: _Account | None) -> Outcome:
        command = item.command
        policy = _Policy(self, group.conn, account.id if account else None, group.now, item)
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
            link_url = self._link_url(group, command, account)
            return Outcome(OutcomeCode.LINK_SENT, {"link_url": link_url})
        if action is Action.UNLINK:
            if account is None:
                return Outcome(OutcomeCode.NOT_LINKED)
            group.unlinked.append({"b_platform": command.platform, "b_user_id": command.user_id})
            group.known.pop((command.platform, command.user_id), None)
            return Outcome(OutcomeCode.UNLINKED, {"platform": command.platform})
        if account is None:
            params: dict[str, Any] = {"link_url": self._link_url(group, command, account)}
            if action is Action.ADD and item.product is not None:
                params["title"] = item.product.title
                group.pending.append(
                    {
                        "platform": command.platform,
                        "user_id": command.user_id,
                        "command": command.to_json(),
                        "created_at": group.now,
                        "expires_at": group.now + self._token_seconds,
                    }
                )
            return Outcome(OutcomeCode.LINK_NEEDED, params)
        cart = group.carts.of(account.id)
        if action is Action.ADD and item.product is not None:
            if not item.after_link and self._too_large(item):
                return self._ask_first(group, account, item)
            return self._add(cart, item, group.now)
        if action is Action.CHECKOUT:
            return await self._checkout(group, account, command, cart)
        if action is Action.CONFIRM:
            return await self._confirm(group, account, command, cart, item.fresh)
        if action is Action.REMOVE and command.product is not None:
            return self._remove(cart, command)
        if action is Action.LIST:
            return await self._listing(cart, account, command)
        if action is Action.CLEAR:
            cart.clear()
            return Outcome(OutcomeCode.CLEARED)
        if action is Action.FORGET:
            return await self._forget(group, account, command)
        if action is Action.PRIVACY:
            wanted = (command.argument or "").strip().lower()
            if wanted in ("on", "off"):
                account.dm_only = wanted == "on"
                group.privacy[account.id] = account.dm_only
            return Outcome(OutcomeCode.PRIVACY_ON if account.dm_only else OutcomeCode.PRIVACY_OFF)
        return Outcome(OutcomeCode.NOT_SUPPORTED, {"action": action.value})

    def _too_large(self, item: Prepared) -> bool:
        settings = self._hashcart.settings
        assert item.product is not None
        quantity = item.command.quantity
        return (
            quantity > settings.confirm_over_quantity
            or quantity * item.product.price_cents > settings.confirm_over_cents
        )

    def _ask_first(self, group: _Group, account: _Account, item: Prepared) -> Outcome:
        """A large add waits for `confirm` instead of changing the cart."""
        product = item.product
        assert product is not None
        waiting = {
            "kind": "add",
            "command": item.command.to_json(),
            "product": [
                product.title, product.price_cents, product.currency, product.image_url,
                product.fetched_at,
            ],
        }  # fmt: skip
        group.confirmations[account.id] = (waiting, group.now + self._token_seconds)
        total = product.price_cents * item.command.quantity
        return Outcome(
            OutcomeCode.CONFIRM_ADD,
            {
                "title": product.title,
                "product_id": product.product_id,
                "quantity": item.command.quantity,
                "total": money(total, product.currency, account.locale or item.command.locale),
            },
        )

    async def _checkout(
        self, group: _Group, account: _Account, command: CartCommand, cart: dict[str, _Line]
    ) -> Outcome:
        listing = await self._listing(cart, account, command)
        if listing.code is OutcomeCode.CART_EMPTY:
            return listing
        if listing.params["handoffs"] and not self._hashcart.plugins.implemented(
            "hashcart_place_order"
        ):
            # No plugin places orders: the stores' own carts are where this cart is paid.
            return Outcome(OutcomeCode.CHECKOUT_HANDOFF, listing.params, cart=listing.cart)
        waiting = {"kind": "checkout", "cart": _fingerprint(cart)}
        group.confirmations[account.id] = (waiting, group.now + self._token_seconds)
        return Outcome(OutcomeCode.CHECKOUT_ASKED, listing.params, cart=listing.cart)

    async def _confirm(
        self, group: _Group, account: _Account, command: CartCommand, cart: dict[str, _Line],
        fresh: dict[str, Product | None] | None = None,
    ) -> Outcome:  # fmt: skip
        """Applies what waits for confirmation, once: the second `confirm` finds nothing."""
        if account.id in group.confirmations:
            waiting = group.confirmations[account.id]
        else:
            row = (
                await group.conn.execute(
                    self.statements.kv_get, {"namespace": CONFIRM, "key": account.id}
                )
            ).first()
            waiting = (row.value, row.expires_at) if row is not None else None
        if waiting is None:
            return Outcome(OutcomeCode.NOTHING_TO_CONFIRM)
        group.confirmations[account.id] = None
        value, expires = waiting
        if expires < group.now:
            return Outcome(OutcomeCode.CONFIRM_EXPIRED)
        if value["kind"] == "add":
            asked = CartCommand.from_json(value["command"])
            # A large add asked for before images were kept has three values, not five.
            title, price_cents, currency, *seen = value["product"]
            image_url, fetched_at = [*seen, None, None][:2]
            assert asked.product is not None
            product = Product(
                asked.product, title, price_cents, currency,
                image_url=image_url, fetched_at=fetched_at,
            )  # fmt: skip
            return self._add(cart, Prepared(asked, product=product), group.now)
        if _fingerprint(cart) != value["cart"]:
            return Outcome(OutcomeCode.CART_CHANGED)
        repriced = await self._reprice(group, account, command, cart, fresh)
        if repriced is not None:
            return repriced
        return await self._place_order(group, account, command, cart)

    async def _reprice(
        self, group: _Group, account: _Account, command: CartCommand, cart: dict[str, _Line],
        fresh: dict[str, Product | None] | None,
    ) -> Outcome | None:  # fmt: skip
        """A checkout is confirmed at today's prices: a changed price or a product gone out of
        stock updates the cart and asks again instead of ordering."""
        if not fresh:
            return None
        locale = account.locale or command.locale
        changes: list[str] = []
        for product_id, line in list(cart.items()):
            if product_id not in fresh:
                continue
            product = fresh[product_id]
            if product is None or not product.available:
                del cart[product_id]
                changes.append(self._hashcart.translate(locale, "reply.gone", title=line.title))
                continue
            if (product.price_cents, product.currency) != (line.price_cents, line.currency):
                before = money(line.price_cents, line.currency, locale)
                after = money(product.price_cents, product.currency, locale)
                changes.append(f"{line.title}: {before} → {after}")
                line.price_cents, line.currency = product.price_cents, product.currency
                line.priced_at = product.fetched_at
        if not changes:
            return None
        if not cart:
            return Outcome(OutcomeCode.CART_CHANGED, {"changes": "; ".join(changes)})
        listing = await self._listing(cart, account, command)
        waiting = {"kind": "checkout", "cart": _fingerprint(cart)}
        group.confirmations[account.id] = (waiting, group.now + self._token_seconds)
        return Outcome(
            OutcomeCode.PRICES_CHANGED,
            {**listing.params, "changes": "; ".join(changes)},
            cart=listing.cart,
        )

    async def _place_order(
        self, group: _Group, account: _Account, command: CartCommand, cart: dict[str, _Line]
    ) -> Outcome:
        """Records the order as pending and empties the cart; nothing is asked of the shop here.

        The shop's call is a network call that must not hold this transaction (nor SQLite's one
        writer): `hashcart.orders.OrderPlacer` makes it afterwards, retries it through an outage,
        and answers the confirmation once, when the order is placed or refused. The cart is
        emptied now so that a second checkout cannot order the same lines again while this one
        is pending; a refused order puts its lines back.
        """
        listing = await self._listing(cart, account, command)
        order_id = uuid.uuid4().hex
        # A cart in two currencies has no one total: the order's is that of its first currency.
        currency, total_cents = totals(listing.cart)[0]
        group.orders.append(
            {
                "id": order_id,
                "account_id": account.id,
                "items": [
                    {
                        "product_id": line.product_id,
                        "title": line.title,
                        "quantity": line.quantity,
                        "price_cents": line.price_cents,
                        "currency": line.currency,
                    }
                    for line in listing.cart
                ],
                "total_cents": total_cents,
                "currency": currency,
                "store_reference": None,
                "event_key": command.event_key,
                "created_at": group.now,
                "status": "pending",
                "command": command.to_json(),
                "attempts": 0,
                "next_attempt_at": group.now,
                "lease_until": None,
                "last_error": None,
                "settled_at": None,
            }
        )
        cart.clear()
        # Silent: the one answer to this confirmation is queued when the shop has decided.
        return Outcome(
            OutcomeCode.ORDER_PENDING,
            {
                "order_id": order_id,
                "total": listing.params["total"],
                "total_cents": total_cents,
                "count": listing.params["count"],
            },
            silent=True,
            cart=listing.cart,
        )

    async def _forget(self, group: _Group, account: _Account, command: CartCommand) -> Outcome:
        """`forget` asks first; `forget confirm` within the window erases the account."""
        if (command.argument or "").strip().lower() != "confirm":
            group.forget_asked[account.id] = group.now + self._token_seconds
            return Outcome(OutcomeCode.FORGET_ASKED)
        asked = group.forget_asked.get(account.id) or await group.conn.scalar(
            self.statements.kv_expiry, {"namespace": FORGET, "key": account.id}
        )
        if not asked or asked < group.now:
            return Outcome(OutcomeCode.NOTHING_TO_CONFIRM)
        group.forget_asked.pop(account.id, None)
        group.forgotten.append(account.id)
        group.carts.of(account.id).clear()
        for key, known in list(group.known.items()):
            if known.id == account.id:
                del group.known[key]
        return Outcome(OutcomeCode.FORGOTTEN)

    @property
    def _token_seconds(self) -> int:
        return self._hashcart.settings.link_token_minutes * 60

    def _add(self, cart: dict[str, _Line], item: Prepared, now: float) -> Outcome:
        product, command = item.product, item.command
        assert product is not None
        line = cart.get(product.product_id)
        if line is None:
            line = cart[product.product_id] = _Line(
                product.title, product.price_cents, product.currency, 0, command.platform, now
            )
        line.quantity += command.quantity
        line.title, line.price_cents, line.currency = (
            product.title, product.price_cents, product.currency,
        )  # fmt: skip
        line.url = product.ref.url or (command.product.url if command.product else None)
        line.image_url, line.priced_at = product.image_url, product.fetched_at
        params = {
            "title": product.title,
            "product_id": product.product_id,
            "quantity": line.quantity,
            "added": command.quantity,
            "cart_url": self._hashcart.cart_url,
        }
        if item.after_link:
            return Outcome(OutcomeCode.PENDING_APPLIED, params)
        code = OutcomeCode.ADDED if line.quantity == command.quantity else OutcomeCode.INCREASED
        return Outcome(code, params)

    def _remove(self, cart: dict[str, _Line], command: CartCommand) -> Outcome:
        assert command.product is not None
        product_id = command.product.product_id
        line = cart.get(product_id)
        if line is None:
            return Outcome(OutcomeCode.NOT_IN_CART, {"title": product_id, "product_id": product_id})
        line.quantity -= command.quantity
        params = {"title": line.title, "product_id": product_id, "quantity": max(line.quantity, 0)}
        if line.quantity <= 0:
            del cart[product_id]
            return Outcome(OutcomeCode.REMOVED, params)
        return Outcome(OutcomeCode.DECREASED, params)

    async def _listing(
        self, cart: dict[str, _Line], account: _Account, command: CartCommand
    ) -> Outcome:
        """The cart as an answer: its lines, a total per currency (`total_cents` only when there
        is one currency) and the hand-off to every store that can take its lines."""
        if not cart:
            return Outcome(OutcomeCode.CART_EMPTY)
        ordered = sorted(cart.items(), key=lambda pair: (pair[1].added_at, pair[0]))
        lines = [
            CartLine(
                product_id, line.title, line.quantity, line.price_cents, line.currency, line.url
            )
            for product_id, line in ordered
        ]
        locale = account.locale or command.locale
        sums = totals(lines)
        text = ", ".join(line_texts(lines))
        stores = await handoffs(self._hashcart, lines)
        params: dict[str, Any] = {
            "lines": text,
            "total": money_totals(lines, locale),
            "totals": [{"currency": currency, "cents": cents} for currency, cents in sums],
            "count": sum(line.quantity for line in lines),
            "cart_url": self._hashcart.cart_url,
            "handoffs": [store.to_json() for store in stores],
            "handoff": "".join(
                " " + self._hashcart.translate(locale, "reply.handoff", label=s.label, url=s.url)
                for s in stores
            ),
        }
        if len(sums) == 1:
            params["total_cents"] = sums[0][1]
        return Outcome(OutcomeCode.LISTED, params, cart=tuple(lines))

    def _public_text(self, locale: str) -> str:
        configured = self._hashcart.settings.public_reply
        return configured or self._hashcart.translate(locale, "reply.private_public")

    def _link_url(self, group: _Group, command: CartCommand, account: _Account | None) -> str:
        """Where the asker links this identity: a one-time token only in a private answer.

        Whoever opens a token first links the identity to their own cart, so a token in a public
        thread hands the asker's later adds to any reader. A public answer points to the page
        where the person proves who they are by signing in with the platform instead. Private
        means what `reply_row` makes of it: the plugin's `ReplyTarget.private` or the
        account's DM-only choice.
        """
        if command.reply_to.private or (account is not None and account.dm_only):
            return self._token(group, command)
        return f"{self._hashcart.settings.public_url}/link/{command.platform}"

    def _token(self, group: _Group, command: CartCommand) -> str:
        token = secrets.token_urlsafe(24)
        group.tokens.append(
            {
                "token": token,
                "platform": command.platform,
                "user_id": command.user_id,
                "user_name": command.user_name,
                "created_at": group.now,
                "expires_at": group.now + self._token_seconds,
                "used_at": None,
            }
        )
        return f"{self._hashcart.settings.public_url}/link/{token}"

    def _settled_row(
        self, command: CartCommand, account: _Account | None, outcome: Outcome, now: float
    ) -> dict[str, Any]:
        row = self._event_row(command, account, outcome, now)
        return {
            "b_event_key": row["event_key"],
            "user_id": row["user_id"],
            "account_id": row["account_id"],
            "product_id": row["product_id"],
            "outcome": row["outcome"],
            "detail": row["detail"],
        }

    def _event_row(
        self, command: CartCommand, account: _Account | None, outcome: Outcome, now: float
    ) -> dict[str, Any]:
        product_id = command.product.product_id if command.product else None
        erased = outcome.code is OutcomeCode.FORGOTTEN
        return {
            "event_key": command.event_key,
            "platform": command.platform,
            "user_id": None if erased else command.user_id,
            "account_id": None if erased or account is None else account.id,
            "action": command.action.value,
            "product_id": product_id or outcome.params.get("product_id"),
            "outcome": outcome.code.value,
            "detail": None if erased else (command.reference or "")[:500] or None,
            "created_at": now,
        }

    def _plain_reply_row(
        self, command: CartCommand, outcome: Outcome, text: str, now: float
    ) -> dict[str, Any]:
        """A reply that bypasses the wording hooks: they may be what keeps failing."""
        return _queued(command.event_key, command.reply_to, text, {}, outcome, now)

    async def reply_row(
        self, command: CartCommand, account: _Account | None, outcome: Outcome, now: float
    ) -> dict[str, Any]:
        """The outbox row answering `command`, worded by the plugins (the order placer too)."""
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
        extra = dict(content.extra)
        if private:
            # A platform that must fall back to a public place uses this: it names no product.
            extra.setdefault("public_text", self._public_text(locale))
        return _queued(command.event_key, target, content.text, extra, outcome, now, locale)


def _queued(
    event_key: str,
    target: ReplyTarget,
    text: str,
    extra: dict[str, Any],
    outcome: Outcome,
    now: float,
    locale: str | None = None,
) -> dict[str, Any]:
    """An outbox row, due at once."""
    return {
        "event_key": event_key,
        "platform": target.platform,
        "recipient": _recipient(target),
        "target": {**target.to_json(), "locale": locale},
        "text": text,
        "extra": extra,
        "outcome": outcome.to_json(),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": None,
        "last_error": None,
        "sent_at": None,
        "created_at": now,
    }


def _state_key(command: CartCommand) -> str:
    return command.state.key if command.state is not None else ""


def _fingerprint(cart: dict[str, _Line]) -> list[list[Any]]:
    """What a confirmation is about: every line's product, quantity and price."""
    return [[pid, line.quantity, line.price_cents] for pid, line in sorted(cart.items())]


def _fitted(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    """`row` with every string cut to its column's length."""
    fitted = dict(row)
    for name, value in row.items():
        length = getattr(table.c[name].type, "length", None) if name in table.c else None
        if isinstance(value, str) and length is not None:
            fitted[name] = value[:length]
    return fitted


def _recipient(target: ReplyTarget) -> str:
    """What a reply is kept in order with: the user, or the plugin's `order_key` (hashed when
    it is longer than the column, as a URL is)."""
    key = target.extra.get("order_key") or target.user
    return key if len(key) <= 64 else hashlib.sha256(key.encode()).hexdigest()
