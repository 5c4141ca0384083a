"""Product sources: live lookups of products that the operator has not put into the catalog.

A store plugin (the Amazon Creators API, a schema.org shop) declares a `ProductSource` through
`hashcart_product_sources`. The core asks the operator's catalog first; a product it does not hold
is fetched from the source that handles its store, kept in the products table with the time it was
fetched and reused for `HASHCART_PRODUCT_TTL` seconds. The core, not the source, gathers the
lookups of one burst into batches of at most `max_batch` and lets concurrent lookups of one product
share one fetch, so a source only has to answer "these products, please".
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
        ...

    async def fetch(self, refs: Sequence[ProductRef]) -> Mapping[str, Product | None]:
        """Look `refs` up; answer by product id, None for a product that does not exist.

        Raise `SourceUnavailable` when the source is down or throttling; a product missing from
        the answer is taken as unknown. Every network call carries a timeout.
        """
        ...
