"""The reply sender: drains the outbox through each platform's `send_reply`.

Rows are claimed with a lease (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several nodes drain
one outbox without sending a reply twice); a node that dies mid-send leaves its lease to expire and
another node picks the row up. Replies to one recipient go out in the order they were queued.
A reply that fails for now is retried as `hashcart.retry` says: when the platform asked, else with
backoff, until it has been tried for `HASHCART_RETRY_GIVE_UP_MINUTES`.

On PostgreSQL, when every reply of a drain went out and the worker claims again at once, the
replies are marked sent by that next claim, in the same statement: one round trip per drain
instead of two. They stay leased meanwhile, so no other node sends them; a node that dies in
between leaves them to be sent again when the lease ends, as one that dies between sending and
marking always has (the outbox is at-least-once across a crash).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hashcart.commands import Outcome, ReplyTarget
from hashcart.logs import current_event
from hashcart.platform import OutgoingReply, Platform, ReplyContent, SendError
from hashcart.retry import next_delay, too_old
from hashcart.scrub import scrub
from hashcart.store import is_postgres, one_of
from hashcart.store.schema import outbox
from hashcart.worker import DrainingWorker

if TYPE_CHECKING:
    from hashcart.app import Hashcart

log = logging.getLogger(__name__)

#: Seconds a claimed row stays reserved for the node that claimed it. A node that dies holding
#: replies delays them by at most this long; a send is cut off well before it runs out, so a
#: slow platform cannot make two nodes send the same reply.
LEASE_SECONDS = 10.0
SEND_TIMEOUT = LEASE_SECONDS - 3.0


class ReplySender(DrainingWorker):
    def __init__(
        self,
        hashcart: Hashcart,
        platforms: Mapping[str, Platform],
        *,
        batch_size: int = 200,
        concurrency: int = 64,
        poll_seconds: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._hashcart = hashcart
        self._engine = hashcart.engine
        self._platforms = platforms
        self._batch_size = batch_size
        self._limit = asyncio.Semaphore(concurrency)
        self._postgres = is_postgres(self._engine)
        #: Replies sent whose "sent" the next claim writes (PostgreSQL, from the worker's loop).
        self._unmarked: list[int] = []
        super().__init__(poll_seconds)
        #: The time the sender goes by (due replies, the give-up age); tests move it forward.
        self.clock = clock

    worker_name = "reply-sender"

    def start(self) -> None:
        if self._platforms:
            super().start()

    async def drain_once(self) -> int:
        """Claim due replies and send them; returns how many went out. After a drain where every
        send failed the worker does not claim again at once: those replies come back at their
        retry time, and whatever else is due at the next wake or poll."""
        return await self._drain(leave_marking=False)

    async def drain_in_loop(self) -> int:
        return await self._drain(leave_marking=self._postgres)

    async def stop(self, grace: float = 5.0) -> None:
        await super().stop(grace)
        if self._unmarked:  # the loop ended before the claim that would have marked them
            try:
                await self._record([(reply_id, 0, 0.0, None) for reply_id in self._unmarked])
            except Exception as exc:  # they stay leased, and are sent again when it ends
                log.warning("replies sent but not marked sent: %s", scrub(str(exc)))
            self._unmarked = []

    async def _drain(self, *, leave_marking: bool) -> int:
        rows = await self._claim()
        if not rows:
            return 0
        by_recipient: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for row in rows:
            by_recipient[(row.platform, row.recipient)].append(row)
        results: list[_Result] = []
        await asyncio.gather(
            *(self._send_in_order(group, results) for group in by_recipient.values())
        )
        sent = [reply_id for reply_id, _, _, error in results if error is None]
        if leave_marking and len(sent) == len(results):
            self._unmarked = sent  # the loop claims again at once (see the module docstring)
        else:
            await self._record(results)
        return len(sent)

    async def _claim(self) -> list[Any]:
        """Lease due replies in one statement, so it needs no transaction of its own (one round
        trip on PostgreSQL, however the claim ends). A reply is held back while an older one to
        the same recipient is still unsent (waiting to retry, or leased by another node): order
        per user."""
        now = self.clock()
        parameters: dict[str, Any] = {"now": now}
        if self._postgres:
            parameters["sent"] = self._unmarked
        async with self._hashcart.writing(), self._engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            rows = list(await conn.execute(self._claim_statement, parameters))
        if self._unmarked:
            self._hashcart.metrics.replies_sent.inc(len(self._unmarked))
            self._unmarked = []
        rows.sort(key=lambda row: row.id)
        return rows

    @functools.cached_property
    def _claim_statement(self) -> sa.Update:
        now = sa.bindparam("now", type_=sa.Float())
        # A constant the planner can see, not a parameter: a plan PostgreSQL makes once for all
        # executions (a generic plan) then finds the few pending rows by index instead of
        # scanning the outbox, most of which is sent.
        pending: sa.ColumnElement[str] = sa.literal_column("'pending'")
        due = (
            sa.select(outbox.c.id, outbox.c.platform, outbox.c.recipient)
            .where(
                outbox.c.status == pending,
                outbox.c.next_attempt_at <= now,
                sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
                outbox.c.platform.in_(list(self._platforms)),
            )
            .order_by(outbox.c.id)
            .limit(self._batch_size)
        )
        if self._postgres:
            # Not the replies this statement marks sent (below), should their lease have run
            # out while the database was away: one statement must not update a row twice.
            due = due.where(~one_of(outbox.c.id, "sent", postgres=True))
            due = due.with_for_update(skip_locked=True)
        candidates = due.cte("candidates")
        older = outbox.alias("older")
        waiting_in_front = sa.exists().where(
            older.c.status == pending,
            older.c.platform == candidates.c.platform,
            older.c.recipient == candidates.c.recipient,
            older.c.id < candidates.c.id,
            older.c.id.not_in(sa.select(candidates.c.id)),
        )
        if self._postgres:
            # Replies the last drain sent, marked here; in front of nothing (the statement's
            # snapshot still shows them pending).
            marked = one_of(outbox.c.id, "sent", postgres=True)
            waiting_in_front = waiting_in_front.where(~one_of(older.c.id, "sent", postgres=True))
        allowed = sa.select(candidates.c.id).where(~waiting_in_front)
        claim = (
            sa.update(outbox)
            .where(outbox.c.id.in_(allowed))
            .values(lease_until=now + LEASE_SECONDS, attempts=outbox.c.attempts + 1)
            .returning(
                outbox.c.id,
                outbox.c.event_key,
                outbox.c.platform,
                outbox.c.recipient,
                outbox.c.target,
                outbox.c.text,
                outbox.c.extra,
                outbox.c.outcome,
                outbox.c.attempts,
                outbox.c.created_at,
                outbox.c.last_error,
            )
        )
        if self._postgres:
            mark = (
                sa.update(outbox)
                .where(marked)
                .values(status="sent", sent_at=now, lease_until=None)
                .cte("marked")
            )
            claim = claim.add_cte(mark)
        return claim

    async def _send_in_order(self, group: list[Any], results: list[_Result]) -> None:
        batches = _merged(group)
        for index, batch in enumerate(batches):
            error = await self._send(batch)
            results.extend((row.id, row.attempts, row.created_at, error) for row in batch)
            if error is not None:
                # Later replies to this recipient wait for this one, to keep their order.
                for later in batches[index + 1 :]:
                    results.extend(
                        (row.id, row.attempts - 1, row.created_at, _Postponed(error))
                        for row in later
                    )
                return

    async def _send(self, batch: list[Any]) -> SendError | None:
        row = batch[0]
        current_event.set(row.event_key)
        platform = self._platforms[row.platform]
        reply = OutgoingReply(
            reply_id=row.id,
            event_key=row.event_key,
            target=ReplyTarget.from_json(row.target),
            content=ReplyContent("\n".join(part.text for part in batch), row.extra or {}),
            outcome=Outcome.from_json(row.outcome),
            attempt=row.attempts,
            locale=row.target.get("locale"),
            last_error=row.last_error,
        )
        async with self._limit:
            try:
                await asyncio.wait_for(platform.send_reply(reply), SEND_TIMEOUT)
            except TimeoutError:
                self._hashcart.count_platform_error(row.platform, "timeout")
                return SendError("the platform did not answer in time", retry_after=0.0)
            except SendError as exc:
                self._hashcart.count_platform_error(
                    row.platform, "refused" if not exc.retryable else "retry"
                )
                return exc
            except Exception as exc:  # a bug or an unexpected network error: try again later
                log.warning("send_reply on %s raised %s", row.platform, scrub(repr(exc)))
                self._hashcart.count_platform_error(row.platform, "error")
                return SendError(f"{type(exc).__name__}: {exc}", retry_after=0.0)
        return None

    async def _record(self, results: list[_Result]) -> None:
        now = self.clock()
        sent = [reply_id for reply_id, _, _, error in results if error is None]
        give_up_minutes = self._hashcart.settings.retry_give_up_minutes
        async with self._hashcart.writing(), self._engine.connect() as conn:
            if len(sent) == len(results):
                # Everything went out: one UPDATE, atomic on its own, so autocommit spares the
                # BEGIN and COMMIT round trips on PostgreSQL (`begin()` below sends nothing).
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.begin()
            if sent:
                await conn.execute(
                    sa.update(outbox)
                    .where(one_of(outbox.c.id, "sent", self._postgres))
                    .values(status="sent", sent_at=now, lease_until=None),
                    {"sent": sent},
                )
            for reply_id, attempts, created_at, error in results:
                if error is None:
                    continue
                reason = scrub(error.reason)  # errors quote URLs and headers with tokens in
                values: dict[str, Any] = {"lease_until": None, "last_error": reason[:500]}
                if isinstance(error, _Postponed):
                    values["attempts"] = attempts
                    values["next_attempt_at"] = now + (error.retry_after or 0.0)
                elif not error.retryable or too_old(created_at, now, give_up_minutes):
                    values["status"] = "failed"
                    log.warning("reply %s given up after %d tries: %s", reply_id, attempts, reason)
                else:
                    values["next_attempt_at"] = now + next_delay(attempts, error.retry_after)
                await conn.execute(
                    sa.update(outbox).where(outbox.c.id == reply_id).values(**values)
                )
            await conn.commit()
        self._hashcart.metrics.replies_sent.inc(len(sent))


class _Postponed(SendError):
    """Not tried: an earlier reply to the same recipient failed first."""

    def __init__(self, cause: SendError) -> None:
        super().__init__(
            f"waiting for an earlier reply: {cause.reason}", retry_after=cause.retry_after or 1.0
        )


#: (reply id, tries so far, when it was queued, what went wrong or None when it was sent)
_Result = tuple[int, int, float, SendError | None]


def _merged(queue: list[Any]) -> list[list[Any]]:
    """Consecutive replies to one recipient that share `ReplyTarget.extra["reply_group"]` (one
    reaction on a message naming several products, say) go out as one message."""
    batches: list[list[Any]] = []
    for row in queue:
        group = (row.target.get("extra") or {}).get("reply_group")
        previous = batches[-1][0] if batches else None
        if (
            group
            and previous is not None
            and (previous.target.get("extra") or {}).get("reply_group") == group
        ):
            batches[-1].append(row)
        else:
            batches.append([row])
    return batches
