"""The local catalog: the default answer to `hashcart_lookup_product`, and the admin's upserts.

Lookups from concurrent commands are gathered into one `SELECT … IN (…)` per event-loop turn so
that a burst of commands costs one query, not one each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.barcodes import Barcode
from hashcart.commands import Product, ProductRef
from hashcart.store import dialect_insert
from hashcart.store.schema import products

if TYPE_CHECKING:
    from hashcart.app import Hashcart

import pluggy

hookimpl = pluggy.HookimplMarker("hashcart")


@hookimpl(trylast=True)
async def hashcart_lookup_product(ref: ProductRef, hashcart: Hashcart) -> Product | None:
    return await hashcart.catalog.get(ref)


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


class Catalog:
    """Reads and writes the `products` table.

    Lookups are remembered for `ttl` seconds: a burst of adds for one product costs one read,
    and a change made through this node is seen at once (other nodes see it within `ttl`).
    """

    def __init__(self, engine: AsyncEngine, ttl: float = 5.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._cache: dict[str, tuple[float, CatalogEntry | None]] = {}
        self._waiting: dict[str, list[asyncio.Future[Product | None]]] = {}
        self._refs: dict[str, ProductRef] = {}
        self._scheduled = False

    async def get(self, ref: ProductRef) -> Product | None:
        cached = self._cache.get(ref.product_id)
        if cached is not None and cached[0] > time.monotonic():
            return _product(ref, cached[1])
        future: asyncio.Future[Product | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(ref.product_id, []).append(future)
        self._refs.setdefault(ref.product_id, ref)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._load()))
        return await future

    async def _load(self) -> None:
        waiting, refs = self._waiting, self._refs
        self._waiting, self._refs, self._scheduled = {}, {}, False
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
            product = _product(refs[product_id], entry)
            for future in futures:
                if not future.done():
                    future.set_result(product)

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
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(
                    products.c.product_id,
                    products.c.title,
                    products.c.price_cents,
                    products.c.currency,
                    products.c.available,
                    products.c.barcode,
                ).where(products.c.product_id.in_(ids))
            )
            return {row.product_id: CatalogEntry(*row) for row in rows}

    async def upsert(self, entries: Iterable[CatalogEntry]) -> dict[str, bool]:
        """Insert or update products in one transaction; returns product_id → created."""
        rows: list[dict[str, Any]] = [
            {
                "product_id": e.product_id,
                "title": e.title,
                "price_cents": e.price_cents,
                "currency": e.currency,
                "available": e.available,
                "barcode": e.barcode,
                "updated_at": time.time(),
            }
            for e in entries
        ]
        if not rows:
            return {}
        for row in rows:
            self._cache.pop(row["product_id"], None)
        async with self._engine.begin() as conn:
            existing = set(
                (
                    await conn.execute(
                        sa.select(products.c.product_id).where(
                            products.c.product_id.in_([r["product_id"] for r in rows])
                        )
                    )
                ).scalars()
            )
            insert = dialect_insert(self._engine, products)
            stmt = insert.on_conflict_do_update(
                index_elements=[products.c.product_id],
                set_={
                    name: insert.excluded[name]
                    for name in (
                        "title",
                        "price_cents",
                        "currency",
                        "available",
                        "barcode",
                        "updated_at",
                    )
                },
            )
            for row in rows:
                await conn.execute(stmt, row)
        return {str(r["product_id"]): r["product_id"] not in existing for r in rows}


def _product(ref: ProductRef, entry: CatalogEntry | None) -> Product | None:
    if entry is None:
        return None
    return Product(ref, entry.title, entry.price_cents, entry.currency, entry.available)
