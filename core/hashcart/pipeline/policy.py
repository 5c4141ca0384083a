"""The `PolicyContext` handed to `hashcart_check_command`, bound to one transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from hashcart.commands import Outcome, Product
from hashcart.pipeline.prepared import Prepared
from hashcart.pipeline.statements import Statements
from hashcart.policy_api import RateDecision
from hashcart.store.counters import window_start


class Policy:
    def __init__(
        self, statements: Statements, conn: AsyncConnection, account_id: str | None, now: float,
        item: Prepared,
    ) -> None:  # fmt: skip
        self._statements = statements
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
            self._statements.peek_hits, {"key": key, "window_start": window}
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
            self._statements.count_hit, {"key": key, "window_start": window, "count": 1}
        )
        count = result.scalar_one()
        return RateDecision(
            allowed=count <= limit,
            count=count,
            limit=limit,
            retry_after=window + window_seconds - self._now,
        )
