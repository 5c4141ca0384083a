"""Products from live sources, kept in the products table and reused for `HASHCART_PRODUCT_TTL`.

The operator's row always wins, a source's row fresher than the TTL is reused, anything else goes
to the first source whose `handles(ref)` is true. A burst of commands naming the same new products
must not become a burst of calls to a rate-limited API, so concurrent lookups of one product share
one fetch, and lookups within `GATHER_SECONDS` of each other go in one call (at most `max_batch`).
What a source answered is written back, so other nodes and later commands reuse it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter

from hashcart.catalog import Catalog, CatalogEntry, _product
from hashcart.commands import Product, ProductRef
from hashcart.sources import ProductSource, SourceUnavailable
from hashcart.store import is_outage
from hashcart.tasks import TrackedTasks

log = logging.getLogger(__name__)

#: How long the first lookup of a burst waits for others to share its call.
GATHER_SECONDS = 0.02
#: The longest title, image or page address kept from a source (the columns' sizes).
MAX_TITLE = 300
MAX_URL = 1000
#: How long a product a source does not know is answered "unknown" without asking again (at most
#: the TTL): a stranger repeating made-up ids must not cost a call each. Per node, in memory.
UNKNOWN_SECONDS = 300.0
MAX_UNKNOWN = 10_000
#: The largest price a products row holds (a 32-bit integer column).
MAX_PRICE_CENTS = 2**31 - 1


@dataclass
class _Batch:
    """Lookups waiting to be sent to one source together."""

    refs: dict[str, ProductRef] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


class ProductCache:
    """Answers `hashcart_lookup_product` from the catalog, the cached rows, then the sources."""

    def __init__(
        self,
        catalog: Catalog,
        ttl: float,
        fetches: Counter,
        writing: Callable[[], contextlib.AbstractAsyncContextManager[Any]],
    ) -> None:
        self._catalog = catalog
        self.sources: list[ProductSource] = []
        self.ttl = ttl
        self._fetches = fetches  # by source and outcome
        self._writing = writing
        self._clock = time.time
        self._inflight: dict[str, asyncio.Future[Product | None]] = {}
        self._batches: dict[int, _Batch] = {}
        self._tasks = TrackedTasks()
        self._unknown: dict[str, float] = {}

    def source_for(self, ref: ProductRef) -> ProductSource | None:
        for source in self.sources:
            try:
                if source.handles(ref):
                    return source
            except Exception as exc:  # a plugin's bug must not take lookups down
                log.warning("product source %s failed on handles(%s): %s", source.name, ref, exc)
        return None

    async def lookup(self, ref: ProductRef) -> Product | None:
        """The product, or None when nobody knows it; raises `SourceUnavailable` to retry."""
        entry = await self._catalog.entry(ref)
        # The operator's row wins; a row of a source no longer configured beats nothing.
        source = None if entry is not None and entry.source is None else self.source_for(ref)
        if source is None or (entry is not None and self._fresh(ref, entry)):
            return _product(ref, entry)
        if self._unknown.get(ref.product_id, 0.0) > self._clock():
            return None
        return await self.fetch(ref, source)

    def _fresh(self, ref: ProductRef, entry: CatalogEntry) -> bool:
        """Fetched within the TTL, and for the same page (an Amazon marketplace, a shop variant)."""
        if entry.fetched_at is None or entry.fetched_at + self.ttl <= self._clock():
            return False
        return ref.url is None or entry.url is None or ref.url == entry.url

    async def fetch(self, ref: ProductRef, source: ProductSource) -> Product | None:
        """Ask `source` about `ref` now (sharing a call already under way or being gathered)."""
        key = ref.product_id
        shared = self._inflight.get(key)
        if shared is None:
            shared = self._inflight[key] = asyncio.get_running_loop().create_future()
            batch = self._batches.setdefault(id(source), _Batch())
            batch.refs[key] = ref
            if len(batch.refs) >= max(1, source.max_batch):
                self._send(source)
            elif batch.timer is None:
                loop = asyncio.get_running_loop()
                batch.timer = loop.call_later(GATHER_SECONDS, self._send, source)
        return await asyncio.shield(shared)

    def _send(self, source: ProductSource) -> None:
        batch = self._batches.pop(id(source), None)
        if batch is None or not batch.refs:
            return
        if batch.timer is not None:
            batch.timer.cancel()
        self._tasks.spawn(self._fetch_batch(source, batch.refs))

    async def _fetch_batch(self, source: ProductSource, refs: Mapping[str, ProductRef]) -> None:
        try:
            try:
                found = await source.fetch(list(refs.values()))
            except SourceUnavailable as exc:
                self._fetches.labels(source.name, "unavailable").inc()
                log.warning("product source %s unavailable: %s", source.name, exc.reason)
                self._fail(refs, exc)
                return
            except Exception as exc:
                # A bug or an answer the source could not read: not the user's fault, not "unknown".
                self._fetches.labels(source.name, "error").inc()
                log.exception("product source %s failed", source.name)
                self._fail(refs, SourceUnavailable(f"{source.name}: {type(exc).__name__}"))
                return
            self._fetches.labels(source.name, "ok").inc()
            now = self._clock()
            answers: dict[str, Product | None] = {}
            entries: list[CatalogEntry] = []
            for key, ref in refs.items():
                product = _bounded(ref, found.get(ref.product_id))
                if product is not None:
                    entry = CatalogEntry(
                        product.product_id,
                        product.title,
                        product.price_cents,
                        product.currency,
                        product.available,
                        source=source.name[:64],
                        fetched_at=now,
                        image_url=product.image_url,
                        url=product.ref.url,
                    )
                    entries.append(entry)
                    product = _product(product.ref, entry)
                else:
                    self._remember_unknown(ref.product_id, now)
                answers[key] = product
            await self._keep(entries)
            for key, product in answers.items():
                future = self._inflight.pop(key, None)
                if future is not None and not future.done():
                    future.set_result(product)
        finally:
            self._fail(refs, SourceUnavailable(f"{source.name}: lookup abandoned"))

    async def _keep(self, entries: list[CatalogEntry]) -> None:
        """Write fetched rows back; a database hiccup costs only the reuse, not the answer."""
        for entry in entries:
            self._catalog.remember(entry)
        if not entries:
            return
        try:
            async with self._writing():
                await self._catalog.store_fetched(entries)
        except Exception as exc:
            level = logging.WARNING if is_outage(exc) else logging.ERROR
            log.log(level, "could not keep %d fetched products: %s", len(entries), exc)

    def _remember_unknown(self, product_id: str, now: float) -> None:
        if len(self._unknown) >= MAX_UNKNOWN:
            self._unknown = {k: v for k, v in self._unknown.items() if v > now}
            if len(self._unknown) >= MAX_UNKNOWN:
                self._unknown.clear()
        self._unknown[product_id] = now + min(self.ttl, UNKNOWN_SECONDS)

    def _fail(self, refs: Iterable[str], exc: BaseException) -> None:
        for key in refs:
            future = self._inflight.pop(key, None)
            if future is not None and not future.done():
                future.set_exception(exc)

    async def close(self) -> None:
        for batch in self._batches.values():
            if batch.timer is not None:
                batch.timer.cancel()
        self._batches.clear()
        await self._tasks.drain(grace=0)
        self._fail(list(self._inflight), SourceUnavailable("shutting down"))


def _bounded(asked: ProductRef, product: Product | None) -> Product | None:
    """A source's answer fitted to the products table; its strings come from outside, so
    whitespace is collapsed, lengths are cut, addresses must be http(s), and a price or currency
    that cannot be one makes the answer unusable (logged, and taken as unknown)."""
    if product is None:
        return None
    currency = product.currency.upper()
    if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
        log.warning("product source gave %s the currency %r", asked.product_id, currency[:10])
        return None
    if not 0 <= product.price_cents <= MAX_PRICE_CENTS:
        log.warning("product source gave %s the price %r", asked.product_id, product.price_cents)
        return None
    title = " ".join(product.title.split())[:MAX_TITLE] or asked.sku
    return Product(
        ProductRef(asked.store, asked.sku, _address(product.ref.url) or _address(asked.url)),
        title,
        product.price_cents,
        currency,
        product.available,
        _address(product.image_url),
    )


def _address(url: str | None) -> str | None:
    if not url or len(url) > MAX_URL or any(ch.isspace() for ch in url):
        return None
    return url if url.lower().startswith(("https://", "http://")) else None
