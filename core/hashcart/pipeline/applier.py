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
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hashcart.actions import Context, decide
from hashcart.commands import CartCommand, Outcome, OutcomeCode
from hashcart.errors import Unavailable
from hashcart.i18n import normalise_locale
from hashcart.pipeline.carts import Carts
from hashcart.pipeline.group import Group
from hashcart.pipeline.prepared import Account, Prepared
from hashcart.pipeline.rows import event_row, fitted, plain_reply_row, reply_row, settled_row
from hashcart.pipeline.statements import Statements
from hashcart.store import dialect_insert, is_outage, is_postgres
from hashcart.store.db import describe_failure
from hashcart.store.schema import events

if TYPE_CHECKING:
    from hashcart.app import Hashcart

log = logging.getLogger(__name__)

#: Failures of its own making after which a command is parked instead of retried.
POISON_TRIES = 3
#: Under load a group that waits this long before it gathers takes in more commands: fewer
#: transactions and round trips per command for a few milliseconds more each. Only after a
#: group of at least `LINGER_AFTER`, so a quiet server applies at once.
LINGER_SECONDS = 0.003
LINGER_AFTER = 4


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
        self._gathering = asyncio.Lock()
        self._last_size = 0
        self.statements = Statements(self.insert, is_postgres(self._engine))

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
            # One worker gathers at a time while the others apply: a lingering worker's group
            # is not split by an idle one taking the first command that arrives.
            async with self._gathering:
                batch = [await self._queue.get()]
                if self._last_size >= LINGER_AFTER:
                    await asyncio.sleep(LINGER_SECONDS)
                while len(batch) < self._max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
            batch = [item for item in batch if not item.withdrawn]
            self._last_size = len(batch)
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
        self._recorded(batch, outcomes)

    def _recorded(self, batch: list[Prepared], outcomes: list[Outcome]) -> None:
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
            outcome = None
        if outcome is None:
            self._fail(item, exc)
        else:
            self._recorded([item], [outcome])

    async def _count_or_park(self, item: Prepared, exc: Exception) -> Outcome | None:
        command, key = item.command, item.command.event_key
        now = time.time()
        async with self._hashcart.writing(), self._engine.begin() as conn:
            poison = {"key": f"poison:{key}", "window_start": 0, "count": 1}
            tries = await conn.scalar(self.statements.count_hit, poison)
            if tries < POISON_TRIES:
                return None
            if await conn.scalar(self.statements.recorded, {"keys": [key]}):
                return Outcome(OutcomeCode.DUPLICATE, silent=True)
            outcome = Outcome(OutcomeCode.FAILED, {"error": describe_failure(exc)})
            row = event_row(command, None, outcome, now)
            row["detail"] = outcome.params["error"]
            # Parking must not fail on the very value that made the command fail.
            await conn.execute(self.statements.record_events, [fitted(events, row)])
            locale = normalise_locale(command.locale)
            text = self._hashcart.translate(locale, "reply.failed")
            reply = plain_reply_row(command, outcome, text, now)
            await conn.execute(self.statements.queue_replies, [reply])
        log.error("command %s parked after %d failures: %s", key, tries, describe_failure(exc))
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
            claimed, known = await self._claim(conn, list(firsts.values()), now)
            # Only the carts of commands that will be applied: a redelivery reads nothing.
            applied = {(f.command.platform, f.command.user_id) for f in firsts.values()
                       if f.command.event_key in claimed}  # fmt: skip
            account_ids = sorted({account.id for key, account in known.items() if key in applied})
            rows: Iterable[Any] = (
                await conn.execute(statements.carts, {"ids": account_ids}) if account_ids else []
            )
            group = Group(conn, now, known, Carts(rows))
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
                outcome = await decide(
                    Context(self._hashcart, self.statements, group, item, account)
                )
                outcomes.append(outcome)
                group.events.append(settled_row(command, account, outcome, group.now))
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

    async def _claim(
        self, conn: AsyncConnection, firsts: Sequence[Prepared], now: float
    ) -> tuple[set[str], dict[tuple[str, str], Account]]:
        """The event ids claimed and the accounts locked. Claiming first makes a concurrent copy
        of an event (another worker, another node) wait for this transaction and then find the
        id taken, and keeps a group that waits so from holding account locks meanwhile."""
        if not firsts:
            return set(), {}
        pairs = {(item.command.platform, item.command.user_id) for item in firsts}
        claims = [
            {"event_key": item.command.event_key, "platform": item.command.platform,
             "action": item.command.action.value, "outcome": "pending", "created_at": now}
            for item in firsts
        ]  # fmt: skip
        users = {
            "platforms": sorted({platform for platform, _ in pairs}),
            "user_ids": sorted({user_id for _, user_id in pairs}),
        }
        claimed, rows = await self.statements.claim_and_lock(conn, claims, users)
        return claimed, {
            (r.platform, r.user_id): Account(r.id, r.dm_only, r.locale, r.language)
            for r in rows
            if (r.platform, r.user_id) in pairs
        }

    async def reply_row(
        self, command: CartCommand, account: Account | None, outcome: Outcome, now: float
    ) -> dict[str, Any]:
        """The outbox row answering `command`, worded by the plugins (the order placer too)."""
        return await reply_row(self._hashcart, command, account, outcome, now)


def _state_key(command: CartCommand) -> str:
    return command.state.key if command.state is not None else ""
