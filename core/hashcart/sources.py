"""Product sources: live lookups of products the operator has not put into the catalog.

The core, not the source, caches, batches and shares lookups (`hashcart.product_cache`), so a
source only has to answer "these products, please".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from hashcart.commands import Product, ProductRef


class SourceUnavailable(Exception):
    """The source is down or throttling: the command is to be tried again, never "unknown".

    `retry_after` is the source's own hint in seconds (a 429's `Retry-After`), when it gave one.
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@runtime_checkable
class ProductSource(Protocol):
    """Where products of one or more stores can be looked up live."""

    #: A short name for logs and metrics, e.g. "amazon-creators" or "shop".
    name: str
    #: The most products one `fetch` may be asked for (Amazon's getItems takes 10).
    max_batch: int

    def handles(self, ref: ProductRef) -> bool:
        """Whether this source can look `ref` up (by its store, usually)."""

    async def fetch(self, refs: Sequence[ProductRef]) -> Mapping[str, Product | None]:
        """Look `refs` up; answer by product id, None for a product that does not exist.

        Raise `SourceUnavailable` when the source is down or throttling; a product missing from
        the answer is taken as unknown. Every network call carries a timeout.
        """
