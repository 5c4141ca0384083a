"""The local catalog: the default answer to `hashcart_lookup_product`, and the admin's upserts.

Lookups from concurrent commands are gathered into one `SELECT … IN (…)` per event-loop turn so
that a burst of commands costs one query, not one each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import pluggy
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.barcodes import Barcode
from hashcart.commands import Product, ProductRef
from hashcart.store import dialect_insert, is_postgres, one_of
from hashcart.store.schema import products

if TYPE_CHECKING:
    from hashcart.app import Hashcart

hookimpl = pluggy.HookimplMarker("hashcart")


@hookimpl(trylast=True)
async def hashcart_lookup_product(ref: ProductRef, hashcart: Hashcart) -> Product | None:
    """The operator's catalog first, then a live source (see `hashcart.product_cache`)."""
    return await hashcart.products.lookup(ref)


@hookimpl(trylast=True)
async def hashcart_product_from_barcode(barcode: Barcode, hashcart: Hashcart) -> ProductRef | None:
    return await hashcart.catalog.by_barcode(barcode.gtin13)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    product_id: str
    title: str
    price_cents: int
    currency: str = "USD"
    available: bool = True
    barcode: str | None = None
    #: Set on rows a live source fetched (its name, when, the product's image and page).
    source: str | None = None
    fetched_at: float | None = None
    image_url: str | None = None
    url: str | None = None


_FIELDS = tuple(entry_field.name for entry_field in fields(CatalogEntry))


class Catalog:
    """Reads and writes the `products` table; a lookup is remembered for `ttl` seconds, so a
    burst of adds for one product costs one read (other nodes see a change within `ttl`)."""

    def __init__(self, engine: AsyncEngine, ttl: float = 5.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._cache: dict[str, tuple[float, CatalogEntry | None]] = {}
        self._waiting: dict[str, list[asyncio.Future[CatalogEntry | None]]] = {}
        self._scheduled = False
        self._fetch = sa.select(*(products.c[name] for name in _FIELDS)).where(
            one_of(products.c.product_id, "ids", is_postgres(engine))
        )

    async def entry(self, ref: ProductRef) -> CatalogEntry | None:
        """The row of `ref`'s product (the operator's or a source's), or None."""
        cached = self._cache.get(ref.product_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        future: asyncio.Future[CatalogEntry | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(ref.product_id, []).append(future)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._load()))
        return await future

    async def _load(self) -> None:
        waiting = self._waiting
        self._waiting, self._scheduled = {}, False
        try:
            found = await self.fetch(list(waiting))
        except Exception as exc:
            for futures in waiting.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        expires = time.monotonic() + self._ttl
        if len(self._cache) > 10_000:
            self._cache.clear()
        for product_id, futures in waiting.items():
            entry = found.get(product_id)
            self._cache[product_id] = (expires, entry)
            for future in futures:
                if not future.done():
                    future.set_result(entry)

    def remember(self, entry: CatalogEntry) -> None:
        """Take a row this node just wrote as the one to answer with (a source's fresh fetch)."""
        self._cache[entry.product_id] = (time.monotonic() + self._ttl, entry)

    async def by_barcode(self, gtin13: str) -> ProductRef | None:
        async with self._engine.connect() as conn:
            found = await conn.scalar(
                sa.select(products.c.product_id).where(products.c.barcode == gtin13)
            )
        return ProductRef.parse(found) if found else None

    async def fetch(self, product_ids: Iterable[str]) -> dict[str, CatalogEntry]:
        ids = list(product_ids)
        if not ids:
            return {}
        # One SELECT on every command's path: in autocommit it pays no BEGIN and ROLLBACK round
        # trips on PostgreSQL, and `one_of` keeps it one prepared statement for any count.
        async with self._engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            rows = await conn.execute(self._fetch, {"ids": ids})
            return {row.product_id: CatalogEntry(**row._mapping) for row in rows}

    async def upsert(self, entries: Iterable[CatalogEntry]) -> dict[str, bool]:
        """Insert or update the operator's products in one transaction; returns product_id →
        created. A row a source had fetched becomes the operator's (it wins from now on)."""
        now = time.time()
        rows = [
            {**asdict(e), "updated_at": now, "source": None, "fetched_at": None} for e in entries
        ]
        if not rows:
            return {}
        ids = [row["product_id"] for row in rows]
        for product_id in ids:
            self._cache.pop(product_id, None)
        async with self._engine.begin() as conn:
            found = await conn.execute(
                sa.select(products.c.product_id).where(products.c.product_id.in_(ids))
            )
            existing = set(found.scalars())
            stmt = self._overwrite()
            for row in rows:
                await conn.execute(stmt, row)
        return {product_id: product_id not in existing for product_id in ids}

    async def store_fetched(self, entries: Iterable[CatalogEntry]) -> None:
        """Keep what a source answered; never overwrites a row of the operator's."""
        rows = [{**asdict(e), "barcode": None, "updated_at": e.fetched_at} for e in entries]
        if rows:
            stmt = self._overwrite(keep="barcode", where=products.c.source.is_not(None))
            async with self._engine.begin() as conn:
                await conn.execute(stmt, rows)

    def _overwrite(self, keep: str = "product_id", **options: Any) -> Any:
        """An insert that overwrites every column of a row already there but its key and `keep`."""
        insert = dialect_insert(self._engine, products)
        return insert.on_conflict_do_update(
            index_elements=[products.c.product_id],
            set_={
                name: insert.excluded[name]
                for name in (*_FIELDS, "updated_at")
                if name not in ("product_id", keep)
            },
            **options,
        )


def _product(ref: ProductRef, entry: CatalogEntry | None) -> Product | None:
    if entry is None:
        return None
    if ref.url is None and entry.url is not None:
        ref = ProductRef(ref.store, ref.sku, entry.url)
    return Product(
        ref,
        entry.title,
        entry.price_cents,
        entry.currency,
        entry.available,
        entry.image_url,
        entry.fetched_at,
    )
