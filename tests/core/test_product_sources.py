"""Live product sources behind the catalog: cached with a TTL, shared, batched, never "unknown"
when the source is down. Run once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence

import pytest
import sqlalchemy as sa

from hashcart import (
    OutcomeCode,
    Product,
    ProductRef,
    ProductSource,
    SourceUnavailable,
    Unavailable,
    hookimpl,
)
from hashcart.catalog import CatalogEntry
from hashcart.store.schema import products
from hashcart.testing import RunningHashcart, running_hashcart
from tests.core.fakes import FakePlatform, FakePlatformPlugin, ShopPlugin, command


class CountingSource:
    """The shop's API: SKUs starting with N exist (price from `prices`), OUT is sold out."""

    name = "fake-shop-api"
    max_batch = 10

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.prices: dict[str, int] = {}
        self.down: SourceUnavailable | None = None
        self.broken = False
        self.delay = 0.0

    def handles(self, ref: ProductRef) -> bool:
        return ref.store == "shop"

    async def fetch(self, refs: Sequence[ProductRef]) -> Mapping[str, Product | None]:
        self.calls.append([ref.sku for ref in refs])
        await asyncio.sleep(self.delay)
        if self.down is not None:
            raise self.down
        if self.broken:
            raise KeyError("price")
        return {
            ref.product_id: Product(
                ref,
                f"Fetched {ref.sku}",
                self.prices.get(ref.sku, 500),
                "EUR",
                available=ref.sku != "OUT1",
                image_url=f"https://shop.test/img/{ref.sku}.jpg",
            )
            if ref.sku.startswith("N") or ref.sku == "OUT1"
            else None
            for ref in refs
        }


class SourcePlugin:
    def __init__(self, source: ProductSource) -> None:
        self.source = source

    @hookimpl
    def hashcart_product_sources(self) -> ProductSource:
        return self.source


@pytest.fixture
def source() -> CountingSource:
    return CountingSource()


@pytest.fixture
async def live(
    database_url: str, shop: ShopPlugin, fake_platform: FakePlatform, source: CountingSource
) -> AsyncIterator[RunningHashcart]:
    async with running_hashcart(
        plugins=[shop, FakePlatformPlugin(fake_platform), SourcePlugin(source)],
        database_url=database_url,
        with_amazon=False,
    ) as running:
        await running.add_product("shop:SKU1", "Blue mug", 1250)
        await running.link("alice", "fake", "u1")
        yield running


def add(sku: str, event_id: str, user_id: str = "u1") -> object:
    return command(event_id=event_id, user_id=user_id, reference=f"https://shop.test/p/{sku}")


async def stored(hc: RunningHashcart, product_id: str) -> dict[str, object] | None:
    async with hc.hashcart.engine.connect() as conn:
        row = (
            await conn.execute(sa.select(products).where(products.c.product_id == product_id))
        ).first()
    return None if row is None else dict(row._mapping)


async def test_the_operators_catalog_wins_over_the_source(
    live: RunningHashcart, source: CountingSource
):
    outcome = await live.hashcart.submit(add("SKU1", "e1"))  # type: ignore[arg-type]
    assert outcome.code is OutcomeCode.ADDED
    assert outcome.params["title"] == "Blue mug"
    assert source.calls == []


async def test_a_fetched_product_is_stored_and_reused_within_the_ttl(
    live: RunningHashcart, source: CountingSource
):
    before = time.time()
    first = await live.hashcart.submit(add("NEW1", "e1"))  # type: ignore[arg-type]
    assert first.code is OutcomeCode.ADDED and first.params["title"] == "Fetched NEW1"
    row = await stored(live, "shop:NEW1")
    assert row is not None
    assert row["source"] == "fake-shop-api" and row["currency"] == "EUR"
    assert row["image_url"] == "https://shop.test/img/NEW1.jpg"
    assert row["url"] == "https://shop.test/p/NEW1"
    assert isinstance(row["fetched_at"], float) and row["fetched_at"] >= before
    live.hashcart.catalog._cache.clear()  # another node, or this one after its read cache expired
    again = await live.hashcart.submit(add("NEW1", "e2"))  # type: ignore[arg-type]
    assert again.code is OutcomeCode.INCREASED
    assert source.calls == [["NEW1"]]
    product = await live.hashcart.products.lookup(ProductRef("shop", "NEW1"))
    assert product is not None and product.fetched_at == row["fetched_at"]
    assert product.image_url == "https://shop.test/img/NEW1.jpg"


async def test_a_product_older_than_the_ttl_is_fetched_again(
    live: RunningHashcart, source: CountingSource
):
    await live.hashcart.submit(add("NEW1", "e1"))  # type: ignore[arg-type]
    source.prices["NEW1"] = 777
    live.hashcart.catalog._cache.clear()
    live.hashcart.products._clock = lambda: time.time() + live.hashcart.settings.product_ttl + 1
    product = await live.hashcart.products.lookup(ProductRef("shop", "NEW1"))
    assert product is not None and product.price_cents == 777
    assert source.calls == [["NEW1"], ["NEW1"]]
    row = await stored(live, "shop:NEW1")
    assert row is not None and row["price_cents"] == 777


async def test_a_burst_of_adds_of_new_products_is_batched_and_shared(
    live: RunningHashcart, source: CountingSource
):
    source.delay = 0.05  # a real API takes its time; lookups arriving meanwhile share calls
    skus = [f"N{n:03d}" for n in range(100)]
    outcomes = await asyncio.gather(
        *(
            live.hashcart.submit(add(skus[i % 100], f"e{i}"))  # type: ignore[arg-type]
            for i in range(1000)
        )
    )
    assert all(o.code in (OutcomeCode.ADDED, OutcomeCode.INCREASED) for o in outcomes)
    assert len(source.calls) <= 10
    assert all(len(call) <= 10 for call in source.calls)
    assert sorted(sku for call in source.calls for sku in call) == skus
    cart = await live.cart("fake", "u1")
    assert cart is not None and sum(line["quantity"] for line in cart) == 1000


async def test_a_source_that_is_down_means_try_again_never_unknown(
    live: RunningHashcart, source: CountingSource, fake_platform: FakePlatform
):
    source.down = SourceUnavailable("429 Too Many Requests", retry_after=1.0)
    with pytest.raises(Unavailable):
        await live.hashcart.submit(add("NEW1", "e1"))  # type: ignore[arg-type]
    assert [e for e in await live.events() if e["outcome"] == "unknown_product"] == []
    assert await stored(live, "shop:NEW1") is None
    # The platform delivers the same event again once the source is back: it is added, once.
    source.down = None
    again = await live.hashcart.submit(add("NEW1", "e1"))  # type: ignore[arg-type]
    assert again.code is OutcomeCode.ADDED
    cart = await live.cart("fake", "u1")
    assert cart is not None and [line["quantity"] for line in cart] == [1]


async def test_a_source_that_breaks_is_not_taken_for_an_unknown_product(
    live: RunningHashcart, source: CountingSource
):
    source.broken = True
    with pytest.raises(Unavailable):
        await live.hashcart.submit(add("NEW1", "e1"))  # type: ignore[arg-type]
    assert [e for e in await live.events() if e["outcome"] == "unknown_product"] == []


async def test_a_product_the_source_does_not_know_is_unknown_and_sold_out_is_not_added(
    live: RunningHashcart, source: CountingSource
):
    unknown = await live.hashcart.submit(add("ZZZZ", "e1"))  # type: ignore[arg-type]
    assert unknown.code is OutcomeCode.UNKNOWN_PRODUCT
    # Asked again soon, the answer comes without another call to the source.
    again = await live.hashcart.submit(add("ZZZZ", "e3"))  # type: ignore[arg-type]
    assert again.code is OutcomeCode.UNKNOWN_PRODUCT
    assert source.calls == [["ZZZZ"]]
    sold_out = await live.hashcart.submit(add("OUT1", "e2"))  # type: ignore[arg-type]
    assert sold_out.code is OutcomeCode.UNAVAILABLE
    assert await live.cart("fake", "u1") == []


async def test_a_source_never_overwrites_the_operators_row(
    live: RunningHashcart, source: CountingSource
):
    await live.hashcart.submit(add("NEW1", "e1"))  # type: ignore[arg-type]
    await live.hashcart.catalog.upsert([CatalogEntry("shop:NEW1", "Operator's mug", 100)])
    row = await stored(live, "shop:NEW1")
    assert row is not None and row["source"] is None and row["fetched_at"] is None
    fetched = CatalogEntry(
        "shop:NEW1", "Fetched", 999, "EUR", source="fake-shop-api", fetched_at=time.time()
    )
    await live.hashcart.catalog.store_fetched([fetched])
    row = await stored(live, "shop:NEW1")
    assert row is not None and row["title"] == "Operator's mug" and row["price_cents"] == 100
    live.hashcart.catalog._cache.clear()
    product = await live.hashcart.products.lookup(ProductRef("shop", "NEW1"))
    assert product is not None and product.title == "Operator's mug"
    assert source.calls == [["NEW1"]]


class StrangeSource(CountingSource):
    """A source whose answers carry what a careless page might: markup-ish whitespace, a
    script address for an image, a currency that is not one."""

    async def fetch(self, refs: Sequence[ProductRef]) -> Mapping[str, Product | None]:
        self.calls.append([ref.sku for ref in refs])
        return {
            ref.product_id: Product(
                ProductRef(ref.store, ref.sku, "javascript:alert(1)"),
                "  Mug\n\n with\tnewlines " + "x" * 400,
                500,
                "EURO" if ref.sku == "NBAD" else "eur",
                image_url="javascript:alert(1)",
            )
            for ref in refs
        }


async def test_strings_from_a_source_are_bounded_and_only_http_addresses_kept(
    database_url: str, shop: ShopPlugin, fake_platform: FakePlatform
):
    strange = StrangeSource()
    async with running_hashcart(
        plugins=[shop, FakePlatformPlugin(fake_platform), SourcePlugin(strange)],
        database_url=database_url,
        with_amazon=False,
    ) as hc:
        product = await hc.hashcart.products.lookup(
            ProductRef("shop", "NEW1", "https://shop.test/p/NEW1")
        )
        assert product is not None
        assert product.title.startswith("Mug with newlines xxx") and len(product.title) == 300
        assert product.currency == "EUR" and product.image_url is None
        assert product.ref.url == "https://shop.test/p/NEW1"
        assert await hc.hashcart.products.lookup(ProductRef("shop", "NBAD")) is None


async def test_retention_forgets_products_fetched_long_ago_but_not_the_operators(
    live: RunningHashcart, source: CountingSource
):
    from hashcart.retention import prune

    await live.hashcart.submit(add("NEW1", "e1"))  # type: ignore[arg-type]
    counts = await prune(live.hashcart.engine, retention_days=30)
    assert counts["fetched_products"] == 0
    assert await stored(live, "shop:NEW1") is not None
    later = time.time() + 31 * 86400
    counts = await prune(live.hashcart.engine, retention_days=30, now=later)
    assert counts["fetched_products"] == 1
    assert await stored(live, "shop:NEW1") is None
    assert await stored(live, "shop:SKU1") is not None
