"""What a `hashcart_check_command` implementation may ask of the core inside a transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hashcart.commands import Outcome, Product


@dataclass(frozen=True, slots=True)
class RateDecision:
    """One hit counted in a fixed window: `allowed` until `count` passes `limit`; `first_refusal`
    is the one refused hit per window that deserves an answer; `retry_after` ends the window."""

    allowed: bool
    count: int
    limit: int
    retry_after: float

    @property
    def first_refusal(self) -> bool:
        return not self.allowed and self.count == self.limit + 1


class PolicyContext(Protocol):
    """Handed to `hashcart_check_command`; every call runs in the command's own transaction."""

    @property
    def account_id(self) -> str | None:
        """The linked account, or None when the platform identity is not linked yet."""

    @property
    def now(self) -> float:
        """The time (epoch seconds) the batch holding this command started."""

    @property
    def expected(self) -> Outcome | None:
        """The answer the core already knows, before the cart is touched: a link that is not a
        product, an unknown or unavailable product. None when the command would go ahead."""

    @property
    def product(self) -> Product | None:
        """The product an `add` is about, as the lookup hooks found it."""

    async def peek(self, key: str, window_seconds: int) -> int:
        """How many hits `key` has in the current window, without counting one."""

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        """Count one hit against `key` in the current fixed window of `window_seconds`."""
