"""The statements a group runs, built once per engine."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from hashcart.pipeline.carts import CHANGEABLE
from hashcart.states import set_absent_statement, set_present_statement
from hashcart.store import one_of
from hashcart.store.counters import PEEK, hit_statement
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


class Statements:
    """Building a statement per command costs more than running it."""

    def __init__(self, insert: Any, postgres: bool) -> None:
        self.count_hit = hit_statement(insert)
        self.peek_hits = PEEK
        self.recorded = sa.select(events.c.event_key).where(
            one_of(events.c.event_key, "keys", postgres)
        )
        self.accounts = (
            sa.select(
                identities.c.platform,
                identities.c.user_id,
                accounts.c.id,
                accounts.c.dm_only,
                accounts.c.locale,
                accounts.c.language,
            )
            .join(accounts, accounts.c.id == identities.c.account_id)
            # Both columns of the primary key, so it is an index lookup and not a scan of every
            # identity (pairs of platform and user the group does not hold are dropped after).
            .where(
                one_of(identities.c.platform, "platforms", postgres),
                one_of(identities.c.user_id, "user_ids", postgres),
            )
            .order_by(accounts.c.id)
        )
        if postgres:
            # Concurrent groups (several workers, several nodes) lock the accounts they touch,
            # in one order (rows are locked as they leave the sort), so they cannot deadlock.
            self.accounts = self.accounts.with_for_update(of=accounts)
        self.carts = sa.select(cart_items).where(one_of(cart_items.c.account_id, "ids", postgres))
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
        # An UPDATE without values sets the columns its rows name (`dm_only`, `language`).
        self.account_settings = sa.update(accounts).where(accounts.c.id == sa.bindparam("b_id"))
        kv = insert(plugin_kv)
        self.kv_put = kv.on_conflict_do_update(
            index_elements=[plugin_kv.c.namespace, plugin_kv.c.key],
            set_={"value": kv.excluded.value, "expires_at": kv.excluded.expires_at},
        )
        self.orders = sa.insert(orders)
        same_key = sa.and_(
            plugin_kv.c.namespace == sa.bindparam("namespace"),
            plugin_kv.c.key == sa.bindparam("key"),
        )
        self.kv_get = sa.select(plugin_kv.c.expires_at, plugin_kv.c.value).where(same_key)
        self.kv_expiry = sa.select(plugin_kv.c.expires_at).where(same_key)
        self.kv_delete = sa.delete(plugin_kv).where(same_key)
        self.tokens = sa.insert(link_tokens)
        self.pending = sa.insert(pending_commands)
        self.record_events = sa.insert(events)
        claim = insert(events)
        if postgres:
            # From arrays: one statement for any number of events, where a list of rows with
            # RETURNING is written as one VALUES row per event, a statement to prepare per count.
            rows = _arrays("", events, ("event_key", "platform", "action"))
            claim = claim.from_select(
                [*rows.c.keys(), "outcome", "created_at"],
                sa.select(
                    *rows.c,
                    sa.bindparam("outcome", type_=sa.String()),
                    sa.bindparam("created_at", type_=sa.Float()),
                ),
            )
        self.claim_events = claim.on_conflict_do_nothing(
            index_elements=[events.c.event_key]
        ).returning(events.c.event_key)
        self.settle_events = sa.update(events).where(
            events.c.event_key == sa.bindparam("b_event_key")
        )
        if postgres:
            # One statement: the claims first (rows come back in the order they are made).
            made, locked = self.claim_events.cte("claimed"), self.accounts.cte("locked")
            self._claim_and_lock = sa.union_all(
                sa.select(
                    made.c.event_key.label("claimed"), *(sa.null().label(c.name) for c in locked.c)
                ),
                sa.select(sa.null(), *locked.c),
            )
        self.queue_replies = sa.insert(outbox)
        self._postgres = postgres
        if postgres:
            self._written_together = _written_together(self)
        self.set_present = set_present_statement(insert)
        self.set_absent = set_absent_statement()

    async def write(self, conn: AsyncConnection, writes: list[tuple[Any, list[Row]]]) -> None:
        """Each statement run for its rows (an `executemany`, one round trip each). On
        PostgreSQL the cart lines, the settled events and the queued replies, what nearly every
        group writes, go as one statement of data-modifying CTEs fed by arrays: one round trip."""
        if self._postgres:
            together, kinds = self._written_together
            if any(rows for statement, rows in writes if statement in kinds):
                parameters: dict[str, Any] = {}
                for statement, rows in writes:
                    if statement in kinds:
                        parameters.update(_columns(*kinds[statement], rows))
                await conn.execute(together, parameters)
            writes = [(statement, rows) for statement, rows in writes if statement not in kinds]
        for statement, rows in writes:
            if rows:
                await conn.execute(statement, rows)

    async def claim_and_lock(
        self, conn: AsyncConnection, claims: list[dict[str, Any]], users: Row
    ) -> tuple[set[str], list[Any]]:
        """The event keys claimed and the accounts of `users` (`platforms` and `user_ids`),
        locked: one round trip on PostgreSQL."""
        if not self._postgres:
            claimed = set((await conn.execute(self.claim_events, claims)).scalars())
            return claimed, list(await conn.execute(self.accounts, users))
        claim = _columns("", events, ("event_key", "platform", "action"), claims)
        parameters = {**claims[0], **claim, **users}  # outcome, created_at shared
        rows = list(await conn.execute(self._claim_and_lock, parameters))
        return {row.claimed for row in rows if row.claimed}, [row for row in rows if row.id]


Row = dict[str, Any]
_JSON = {column.name for column in outbox.c if isinstance(column.type, sa.JSON)}
_LINE = (*CHANGEABLE, "updated_at")


def _arrays(prefix: str, table: sa.Table, keys: tuple[str, ...]) -> Any:
    """Rows from one array per key (named `prefix` + key; a `b_` key matches the column it
    names). Strings go unbounded, so a value too long fails on its column as in a plain INSERT
    rather than being cut by a cast."""
    types = [table.c[key.removeprefix("b_")].type for key in keys]
    scalar = (sa.Integer, sa.Float)
    arrays = (
        sa.bindparam(prefix + key, type_=ARRAY(kind if isinstance(kind, scalar) else sa.String()))
        for key, kind in zip(keys, types, strict=True)
    )
    return sa.func.unnest(*arrays).table_valued(*keys).render_derived(name=prefix or "rows")


def _columns(prefix: str, table: sa.Table, keys: tuple[str, ...], rows: list[Row]) -> Row:
    """`rows` as the arrays `_arrays` reads; JSON as text, cast back in the statement."""
    return {
        prefix + key: [json.dumps(row[key]) for row in rows]
        if isinstance(table.c[key.removeprefix("b_")].type, sa.JSON)
        else [row[key] for row in rows]
        for key in keys
    }


#: How a statement's rows become arrays: their prefix, the table and the keys of a row.
_Arrays = tuple[str, sa.Table, tuple[str, ...]]


def _written_together(statements: Statements) -> tuple[Any, dict[Any, _Arrays]]:
    """The statement writing a group's lines, events and replies at once, and for each of the
    statements it stands for, how its rows become its arrays."""
    reply = tuple(column.name for column in outbox.c if column.name != "id")
    settled = ("user_id", "account_id", "product_id", "outcome", "detail")
    kinds: dict[Any, _Arrays] = {
        statements.insert_lines: ("il_", cart_items, (
            "account_id", "product_id", *_LINE, "added_via", "added_at")),
        statements.update_lines: ("ul_", cart_items, ("b_account_id", "b_product_id", *_LINE)),
        statements.delete_lines: ("dl_", cart_items, ("b_account_id", "b_product_id")),
        statements.settle_events: ("se_", events, ("b_event_key", *settled)),
        statements.queue_replies: ("qr_", outbox, reply),
    }  # fmt: skip
    new, changed, gone, done, replies = (_arrays(*spec) for spec in kinds.values())
    writes: list[Any] = [
        sa.insert(cart_items).from_select(list(new.c.keys()), sa.select(*new.c)),
        sa.update(cart_items)
        .where(cart_items.c.account_id == changed.c.b_account_id,
               cart_items.c.product_id == changed.c.b_product_id)
        .values({key: changed.c[key] for key in _LINE}),
        sa.delete(cart_items).where(cart_items.c.account_id == gone.c.b_account_id,
                                    cart_items.c.product_id == gone.c.b_product_id),
        sa.update(events)
        .where(events.c.event_key == done.c.b_event_key)
        .values({key: done.c[key] for key in settled}),
        sa.insert(outbox).from_select(reply, sa.select(*(
            sa.cast(replies.c[key], sa.JSON) if key in _JSON else replies.c[key]
            for key in reply
        ))),
    ]  # fmt: skip
    together: Any = sa.select(sa.literal_column("1")).add_cte(
        *(write.cte(f"w{index}") for index, write in enumerate(writes))
    )
    return together, kinds
