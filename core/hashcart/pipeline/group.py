"""The working state of one group's transaction: what it read and what it will write."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hashcart.accounts import erase_account
from hashcart.pipeline.carts import Carts
from hashcart.pipeline.prepared import Account
from hashcart.pipeline.statements import Statements

#: The key-value namespace where a pending `forget` waits for its confirmation.
FORGET = "forget"
#: The key-value namespace where a checkout or a large add waits for `confirm`.
CONFIRM = "confirm"


class Group:
    def __init__(
        self, conn: AsyncConnection, now: float, known: dict[tuple[str, str], Account],
        carts: Carts,
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
        self.languages: dict[str, str | None] = {}
        self.events: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []

    async def flush(self, statements: Statements) -> None:
        conn = self.conn
        inserts, updates, deletes = self.carts.changes(self.now)
        writes: list[tuple[Any, list[dict[str, Any]]]] = [
            (statements.insert_lines, inserts),
            (statements.update_lines, updates),
            (statements.delete_lines, deletes),
            (statements.unlink, self.unlinked),
            (
                statements.account_settings,
                [{"b_id": k, "dm_only": v} for k, v in self.privacy.items()],
            ),
            (
                statements.account_settings,
                [{"b_id": k, "language": v} for k, v in self.languages.items()],
            ),
            (statements.tokens, self.tokens),
            (statements.pending, self.pending),
            (statements.settle_events, self.events),
            (statements.queue_replies, self.replies),
            (statements.orders, self.orders),
        ]
        await statements.write(conn, writes)
        for account_id, expires in self.forget_asked.items():
            forget = {"namespace": FORGET, "key": account_id, "value": {}, "expires_at": expires}
            await conn.execute(statements.kv_put, forget)
        for account_id, waiting in self.confirmations.items():
            key = {"namespace": CONFIRM, "key": account_id}
            if waiting is None:
                await conn.execute(statements.kv_delete, key)
            else:
                value, expires = waiting
                await conn.execute(
                    statements.kv_put, {**key, "value": value, "expires_at": expires}
                )
        for account_id in self.forgotten:
            await conn.execute(statements.kv_delete, {"namespace": FORGET, "key": account_id})
            await erase_account(conn, account_id)
