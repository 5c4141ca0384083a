"""The shop plugin against real local shops: pages read, links refused, the fetch kept inside
the listed shops (aiohttp servers on 127.0.0.1, listed with their ports)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import test_utils, web

from hashcart import CartLine, ProductRef, SourceUnavailable
from hashcart_shop import guard
from hashcart_shop.guard import GuardedClient, Refused
from hashcart_shop.identity import product_ref
from hashcart_shop.settings import ShopList, ShopSettings, parse_host_entry
from hashcart_shop.shopify import cart_permalink
from hashcart_shop.source import ShopSource


def json_ld_page(data: object) -> str:
    return (
        "<html><head><title>x</title>"
        f'<script type="application/ld+json">{json.dumps(data)}</script>'
        "</head><body>Product page</body></html>"
    )


MUG = {
    "@context": "https://schema.org",
    "@type": "Product",
    "name": "Enamel mug",
    "sku": "MUG-1",
    "gtin13": "4006381333931",
    "image": ["/img/mug.jpg"],
    "offers": {
        "@type": "Offer",
        "price": "12.50",
        "priceCurrency": "EUR",
        "availability": "https://schema.org/InStock",
    },
}

MICRODATA = """<html><body><div itemscope itemtype="https://schema.org/Product">
<span itemprop="name">Wool socks</span><span itemprop="sku">SOCK</span>
<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
<meta itemprop="price" content="9.99"><meta itemprop="priceCurrency" content="USD">
<link itemprop="availability" href="https://schema.org/InStock"></div></div></body></html>"""

RDFA = """<html><body><div vocab="https://schema.org/" typeof="Product">
<span property="name">Tea tin</span><div property="offers" typeof="Offer">
<span property="price" content="3.00">3</span><meta property="priceCurrency" content="GBP">
</div></div></body></html>"""

OPENGRAPH = """<html><head><meta property="og:type" content="product">
<meta property="og:title" content="Canvas bag"><meta property="og:image" content="https://img.example/bag.png">
<meta property="product:price:amount" content="24.00"><meta property="product:price:currency" content="CHF">
</head><body></body></html>"""

SHOPIFY_JS = {
    "id": 1,
    "title": "Hoodie",
    "handle": "hoodie",
    "featured_image": "//cdn.shopify.com/hoodie.jpg",
    "variants": [
        {"id": 111, "title": "S", "price": 4500, "available": False, "sku": "H-S"},
        {"id": 222, "title": "M", "price": 4700, "available": True, "sku": "H-M"},
    ],
}


@dataclass
class LocalShop:
    """A shop on 127.0.0.1: path → (status, content type, body, headers); records what it saw."""

    origin: str = ""
    pages: dict[str, tuple[int, str, bytes, dict[str, str]]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    delay: float = 0.0

    def page(self, path: str, html: str, status: int = 200, **headers: str) -> None:
        self.pages[path] = (status, "text/html", html.encode(), headers)

    def json(self, path: str, data: object) -> None:
        self.pages[path] = (200, "application/json", json.dumps(data).encode(), {})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request.path_qs)
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.path == "/huge-chunked":
            response = web.StreamResponse()
            await response.prepare(request)
            for _ in range(40):
                await response.write(b"<p>" + b"x" * 100_000 + b"</p>")
            await response.write_eof()
            return response
        status, kind, body, headers = self.pages.get(request.path, (404, "text/plain", b"", {}))
        return web.Response(status=status, body=body, content_type=kind, headers=headers)

    @property
    def entry(self) -> str:
        return self.origin  # http://127.0.0.1:<port>: plain http, listed with its port


async def _serve(shop: LocalShop) -> test_utils.TestServer:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", shop.handle)
    server = test_utils.TestServer(app, host="127.0.0.1")
    await server.start_server()
    shop.origin = str(server.make_url("")).rstrip("/")
    return server


@pytest.fixture
async def local_shop() -> AsyncIterator[LocalShop]:
    shop = LocalShop()
    server = await _serve(shop)
    try:
        yield shop
    finally:
        await server.close()


@pytest.fixture
async def other_shop() -> AsyncIterator[LocalShop]:
    shop = LocalShop()
    server = await _serve(shop)
    try:
        yield shop
    finally:
        await server.close()


def shops(*entries: str) -> ShopList:
    return ShopList(ShopSettings(hosts=",".join(entries)).shop_hosts())


def source_for(shop: LocalShop) -> tuple[ShopSource, Callable[[str], ProductRef]]:
    listed = shops(shop.entry)

    def ref(path: str) -> ProductRef:
        found = product_ref(shop.origin + path, listed)
        assert found is not None
        return found

    return ShopSource(listed), ref


# -- reading pages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "title", "cents", "currency"),
    [
        (json_ld_page(MUG), "Enamel mug", 1250, "EUR"),
        (json_ld_page({"@graph": [{"@type": "WebPage"}, MUG]}), "Enamel mug", 1250, "EUR"),
        (MICRODATA, "Wool socks", 999, "USD"),
        (RDFA, "Tea tin", 300, "GBP"),
        (OPENGRAPH, "Canvas bag", 2400, "CHF"),
    ],
    ids=["json-ld", "json-ld-graph", "microdata", "rdfa", "opengraph"],
)
async def test_title_price_and_currency_are_read_from_the_page(
    local_shop: LocalShop, html: str, title: str, cents: int, currency: str
) -> None:
    local_shop.page("/p/item", html)
    source, ref = source_for(local_shop)
    product = (await source.fetch([ref("/p/item")]))[ref("/p/item").product_id]
    assert product is not None
    assert (product.title, product.price_cents, product.currency) == (title, cents, currency)
    assert product.available
    assert product.fetched_at is not None


async def test_image_is_made_absolute_and_the_store_is_the_listed_host(
    local_shop: LocalShop,
) -> None:
    local_shop.page("/p/mug", json_ld_page(MUG))
    source, ref = source_for(local_shop)
    product = await source.fetch_one(ref("/p/mug"))
    assert product is not None
    assert product.image_url == f"{local_shop.origin}/img/mug.jpg"
    port = local_shop.origin.rsplit(":", 1)[1]
    assert product.product_id == f"127.0.0.1_{port}:/p/mug"


async def test_out_of_stock_is_read_as_unavailable(local_shop: LocalShop) -> None:
    gone = {**MUG, "offers": {**MUG["offers"], "availability": "https://schema.org/OutOfStock"}}
    local_shop.page("/p/gone", json_ld_page(gone))
    source, ref = source_for(local_shop)
    product = await source.fetch_one(ref("/p/gone"))
    assert product is not None and not product.available


async def test_a_page_without_product_data_is_not_a_product(local_shop: LocalShop) -> None:
    local_shop.page("/about", "<html><body><h1>About us</h1></body></html>")
    local_shop.page("/no-price", json_ld_page({"@type": "Product", "name": "No offer"}))
    source, ref = source_for(local_shop)
    assert await source.fetch_one(ref("/about")) is None
    assert await source.fetch_one(ref("/no-price")) is None
    assert await source.fetch_one(ref("/missing")) is None  # 404


# -- identity --------------------------------------------------------------------------------


def test_tracking_parameters_are_dropped_from_the_identity() -> None:
    listed = shops("shop.example")
    plain = product_ref("https://shop.example/products/mug", listed)
    tracked = product_ref(
        "https://SHOP.example/collections/all/products/mug/?utm_source=x&fbclid=1&_pos=2#reviews",
        listed,
    )
    assert plain is not None and tracked is not None
    assert plain.product_id == tracked.product_id == "shop.example:/products/mug"
    assert tracked.url == "https://shop.example/products/mug"
    variant = product_ref("https://shop.example/products/mug?variant=42&utm_medium=y", listed)
    assert variant is not None and variant.product_id == "shop.example:/products/mug?variant=42"
    keeps_ids = product_ref("https://shop.example/item.php?id=7&ref=abc", listed)
    assert keeps_ids is not None and keeps_ids.sku == "/item.php?id=7"


def test_links_to_unlisted_hosts_other_schemes_or_ports_are_not_products() -> None:
    listed = shops("shop.example", "http://local.test:8080")
    for url in (
        "https://evil.example/products/mug",
        "https://shop.example.evil.example/products/mug",
        "http://shop.example/products/mug",  # plain http was not allowed for this shop
        "https://shop.example:8443/products/mug",
        "https://user@shop.example/products/mug",
        "http://local.test/products/mug",
        "https://shop.example/products/mug?variant=abc",
    ):
        assert product_ref(url, listed) is None, url
    assert product_ref("http://local.test:8080/p", listed) is not None


def test_bad_host_entries_are_refused_with_their_name() -> None:
    with pytest.raises(ValueError, match="ftp"):
        parse_host_entry("ftp://shop.example")
    with pytest.raises(ValueError, match=r"shop\.example/path"):
        parse_host_entry("shop.example/path")
    entry = parse_host_entry("http://Shop.Local:8080/")
    assert (entry.scheme, entry.host, entry.port, entry.port_listed) == (
        "http", "shop.local", 8080, True,
    )  # fmt: skip


# -- the fetch stays inside the listed shops -------------------------------------------------


async def test_a_host_that_is_not_listed_is_never_fetched(
    local_shop: LocalShop, other_shop: LocalShop
) -> None:
    other_shop.page("/p/mug", json_ld_page(MUG))
    source, _ = source_for(local_shop)
    port = other_shop.origin.rsplit(":", 1)[1]
    unlisted = ProductRef(f"127.0.0.1_{port}", "/p/mug", other_shop.origin + "/p/mug")
    assert not source.handles(unlisted)
    assert await source.fetch_one(unlisted) is None
    # Nor through a listed store whose URL points elsewhere.
    disguised = ProductRef(source_for(local_shop)[1]("/p").store, "/p", other_shop.origin + "/p")
    assert await source.fetch_one(disguised) is None
    assert other_shop.seen == []


async def test_a_redirect_off_the_list_is_refused_before_it_is_followed(
    local_shop: LocalShop, other_shop: LocalShop
) -> None:
    other_shop.page("/p/mug", json_ld_page(MUG))
    local_shop.page("/go", "", status=302, Location=other_shop.origin + "/p/mug")
    local_shop.page("/moved", "", status=301, Location="/p/mug")
    local_shop.page("/p/mug", json_ld_page(MUG))
    source, ref = source_for(local_shop)
    assert await source.fetch_one(ref("/go")) is None
    assert other_shop.seen == []
    moved = await source.fetch_one(ref("/moved"))  # within the shop: followed
    assert moved is not None and moved.title == "Enamel mug"


async def test_a_private_address_is_refused_when_the_host_is_listed_without_its_port() -> None:
    # A public-looking listing that resolves to loopback is a rebinding attack: refused at
    # resolution, before any connection, whatever listens there.
    client = GuardedClient(shops("http://localhost", "127.0.0.1"))
    with pytest.raises(Refused, match="not a public address"):
        await client.get("http://localhost/p/mug", "text/html")
    with pytest.raises(Refused, match="not a public address"):
        await client.get("https://127.0.0.1/p/mug", "text/html")


async def test_the_same_machine_is_reachable_when_listed_with_its_port(
    local_shop: LocalShop,
) -> None:
    local_shop.page("/p/mug", json_ld_page(MUG))
    port = local_shop.origin.rsplit(":", 1)[1]
    client = GuardedClient(shops(f"http://localhost:{port}"))
    fetched = await client.get(f"http://localhost:{port}/p/mug", "text/html")
    assert b"Enamel mug" in fetched.body


async def test_a_page_over_two_megabytes_is_refused(local_shop: LocalShop) -> None:
    local_shop.page("/huge", json_ld_page(MUG) + "<p>" + "x" * (2 * 1024 * 1024) + "</p>")
    source, ref = source_for(local_shop)
    assert await source.fetch_one(ref("/huge")) is None  # declared length
    assert await source.fetch_one(ref("/huge-chunked")) is None  # counted while reading
    client = GuardedClient(shops(local_shop.entry))
    with pytest.raises(Refused, match="larger than"):
        await client.get(local_shop.origin + "/huge-chunked", "text/html")


async def test_a_shop_that_is_down_slow_or_throttling_means_try_again(
    local_shop: LocalShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_shop.page("/busy", "", status=429, **{"Retry-After": "7"})
    local_shop.page("/broken", "", status=503)
    local_shop.page("/slow", json_ld_page(MUG))
    source, ref = source_for(local_shop)
    with pytest.raises(SourceUnavailable) as busy:
        await source.fetch_one(ref("/busy"))
    assert busy.value.retry_after == 7
    with pytest.raises(SourceUnavailable):
        await source.fetch_one(ref("/broken"))
    monkeypatch.setattr(guard, "TIMEOUT", 0.3)
    local_shop.delay = 1.0
    with pytest.raises(SourceUnavailable, match="took more than"):
        await source.fetch_one(ref("/slow"))


# -- Shopify ---------------------------------------------------------------------------------


SHOPIFY_PAGE = json_ld_page(
    {
        **MUG,
        "name": "Hoodie",
        "offers": {"@type": "Offer", "price": "45.00", "priceCurrency": "CAD"},
    }
).replace("<body>", '<body><script src="https://cdn.shopify.com/s/shop.js"></script>')


async def test_a_shopify_variant_link_is_priced_from_the_product_json(
    local_shop: LocalShop,
) -> None:
    local_shop.page("/products/hoodie", SHOPIFY_PAGE)
    local_shop.json("/products/hoodie.js", SHOPIFY_JS)
    source, ref = source_for(local_shop)
    small = await source.fetch_one(ref("/products/hoodie?variant=111"))
    assert small is not None
    assert (small.title, small.price_cents, small.currency) == ("Hoodie – S", 4500, "CAD")
    assert not small.available
    assert small.image_url == "https://cdn.shopify.com/hoodie.jpg"
    assert local_shop.seen == ["/products/hoodie?variant=111", "/products/hoodie.js"]
    page_only = await source.fetch_one(ref("/products/hoodie"))  # no variant: the page's price
    assert page_only is not None and page_only.price_cents == 4500
    assert local_shop.seen[2:] == ["/products/hoodie"]
    assert await source.fetch_one(ref("/products/hoodie?variant=999")) is None


def test_the_shopify_hand_off_carries_every_line_with_its_quantity() -> None:
    listed = shops("shop.example")
    lines = [
        CartLine("shop.example:/products/hoodie?variant=222", "Hoodie – M", 2, 4700, "CAD"),
        CartLine(
            "shop.example:/products/cap", "Cap", 1, 1500, "CAD",
            url="https://shop.example/products/cap?variant=333",
        ),
    ]  # fmt: skip
    url = cart_permalink("shop.example", lines, listed)
    assert url == "https://shop.example/cart/222:2,333:1"
    items = dict(pair.split(":") for pair in url.rsplit("/", 1)[1].split(","))
    assert items == {"222": "2", "333": "1"}
    no_variant = [CartLine("shop.example:/p/other", "Other", 1, 100, "CAD")]
    assert cart_permalink("shop.example", lines + no_variant, listed) is None
    assert cart_permalink("elsewhere.example", lines, listed) is None


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Answer getaddrinfo for made-up names from a table; returns the names asked for."""
    asked: list[str] = []
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
        if host not in answers:
            return await real(host, port, **kwargs)  # type: ignore[arg-type]
        asked.append(host)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in answers[host]
        ]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return asked


async def test_dns_rebinding_to_a_private_address_among_public_ones_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = fake_dns(monkeypatch, {"shop.example": ["93.184.216.34", "10.0.0.7"]})
    client = GuardedClient(shops("shop.example"))
    with pytest.raises(Refused, match=r"10\.0\.0\.7"):
        await client.get("https://shop.example/products/mug", "text/html")
    assert asked == ["shop.example"]


async def test_the_connection_goes_to_the_address_that_was_checked(
    local_shop: LocalShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `shop.invalid` exists nowhere but in the checked answer: fetching it proves that aiohttp
    # connected to what the resolver checked rather than asking DNS again.
    local_shop.page("/p/mug", json_ld_page(MUG))
    port = int(local_shop.origin.rsplit(":", 1)[1])
    asked = fake_dns(monkeypatch, {"shop.invalid": ["127.0.0.1"]})
    client = GuardedClient(shops(f"http://shop.invalid:{port}"))
    fetched = await client.get(f"http://shop.invalid:{port}/p/mug", "text/html")
    assert b"Enamel mug" in fetched.body and asked == ["shop.invalid"]


def test_a_bad_shop_host_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hashcart import ConfigError
    from hashcart.config import load_settings

    monkeypatch.setenv("HASHCART_SHOP_HOSTS", "shop.example, ftp://files.example")
    with pytest.raises(ConfigError, match="HASHCART_SHOP_HOSTS"):
        load_settings(ShopSettings)


async def test_a_long_page_address_gets_a_short_stable_identity(local_shop: LocalShop) -> None:
    path = "/p/" + "very-long-product-name-" * 8
    local_shop.page(path, json_ld_page(MUG))
    source, ref = source_for(local_shop)
    first, second = ref(path), ref(path + "?utm_campaign=x")
    assert first.product_id == second.product_id and len(first.product_id) <= 128
    product = await source.fetch_one(first)  # fetched from the page address the ref carries
    assert product is not None and product.title == "Enamel mug"


async def test_doctor_reaches_each_listed_shop_through_the_guard(local_shop: LocalShop) -> None:
    import hashcart_shop
    from hashcart.testing import running_hashcart

    env = {"HASHCART_SHOP_HOSTS": f"{local_shop.entry},http://localhost"}
    async with running_hashcart(plugins=[hashcart_shop], env=env, with_amazon=False) as hc:
        rows = await hashcart_shop.hashcart_doctor(hc.hashcart)
    assert [(check, passed) for check, passed, _ in rows] == [
        (f"shop: {local_shop.origin} reachable", True),  # a 404 on / still answers
        ("shop: http://localhost reachable", False),
    ]
    assert "not a public address" in rows[1][2]
    assert local_shop.seen == ["/"]


async def test_a_listed_shop_that_is_not_running_means_try_again() -> None:
    from hashcart.testing.harness import free_port

    port = free_port()
    client = GuardedClient(shops(f"http://127.0.0.1:{port}"))
    with pytest.raises(SourceUnavailable, match="could not be reached"):
        await client.get(f"http://127.0.0.1:{port}/p/mug", "text/html")
