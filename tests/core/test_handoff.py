"""Any shop's product link into the cart, and the cart out to the stores (issue 15): pages read
through the shop plugin from a local shop, hand-off URLs, totals per currency, prices checked
again before a checkout is confirmed. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

import hashcart_shop
from hashcart import CartLine, OutcomeCode, hookimpl
from hashcart.testing import (
    ADMIN_TOKEN,
    RunningHashcart,
    TakesOrders,
    eventually,
    running_hashcart,
)
from hashcart_shop.testing import ShopStandin
from tests.core.fakes import FakePlatform, FakePlatformPlugin, ShopPlugin, command

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class StoreCarts:
    """Hands the test shop's lines off as `https://shop.test/cart?SKU=qty&…`."""

    @hookimpl
    def hashcart_store_cart_url(self, store: str, lines: Sequence[CartLine]) -> str | None:
        if store != "shop":
            return None
        items = "&".join(f"{line.product_id.partition(':')[2]}={line.quantity}" for line in lines)
        return f"https://shop.test/cart?{items}"


@pytest.fixture
async def corner_shop() -> AsyncIterator[ShopStandin]:
    async with ShopStandin() as shop:
        yield shop


@pytest.fixture
async def elsewhere() -> AsyncIterator[ShopStandin]:
    async with ShopStandin(title="Not listed") as shop:
        yield shop


def running(database_url: str, plugins: list[object], shop: ShopStandin | None = None) -> Any:
    env = {"HASHCART_ADMIN_TOKEN": ADMIN_TOKEN}
    if shop is not None:
        env["HASHCART_SHOP_HOSTS"] = shop.url
    return running_hashcart(
        plugins=[*plugins, FakePlatformPlugin(FakePlatform())],
        database_url=database_url,
        env=env,
        with_amazon=False,
    )


async def admin_cart(hc: RunningHashcart, account_id: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{hc.url}/api/v1/accounts/{account_id}/cart", headers=ADMIN) as response,
    ):
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


# -- product pages into the cart -------------------------------------------------------------


async def test_a_product_page_link_is_added_with_what_the_page_says(
    database_url: str, corner_shop: ShopStandin
) -> None:
    corner_shop.add(
        "/products/mug", "Enamel mug", 1250, currency="EUR", image="https://img.test/mug.png"
    )
    async with running(database_url, [hashcart_shop], corner_shop) as hc:
        await hc.link("alice", "fake", "u1")
        link = f"{corner_shop.url}/products/mug?utm_source=newsletter"
        added = await hc.hashcart.submit(command(reference=link))
        assert added.code is OutcomeCode.ADDED and added.params["title"] == "Enamel mug"
        again = await hc.hashcart.submit(
            command(event_id="e2", reference=f"{corner_shop.url}/products/mug")
        )
        assert again.code is OutcomeCode.INCREASED  # one product, tracking or not
        (line,) = await hc.cart("fake", "u1") or []
        port = corner_shop.url.rsplit(":", 1)[1]
        assert line["product_id"] == f"127.0.0.1_{port}:/products/mug"
        assert (line["title"], line["price_cents"], line["currency"]) == ("Enamel mug", 1250, "EUR")
        assert line["image_url"] == "https://img.test/mug.png"
        assert line["priced_at"] is not None and line["store"] == f"127.0.0.1_{port}"
        assert corner_shop.seen.count("/products/mug") == 1  # the second add used the cache


async def test_an_out_of_stock_product_is_answered_and_not_added(
    database_url: str, corner_shop: ShopStandin
) -> None:
    corner_shop.add("/products/lamp", "Old lamp", 999, available=False)
    async with running(database_url, [hashcart_shop], corner_shop) as hc:
        await hc.link("alice", "fake", "u1")
        outcome = await hc.hashcart.submit(command(reference=f"{corner_shop.url}/products/lamp"))
        assert outcome.code is OutcomeCode.UNAVAILABLE and outcome.params["title"] == "Old lamp"
        assert await hc.cart("fake", "u1") == []


async def test_a_page_without_product_data_is_not_added(
    database_url: str, corner_shop: ShopStandin
) -> None:
    corner_shop.answer("/about", "<html><body><h1>About the corner shop</h1></body></html>")
    async with running(database_url, [hashcart_shop], corner_shop) as hc:
        await hc.link("alice", "fake", "u1")
        outcome = await hc.hashcart.submit(command(reference=f"{corner_shop.url}/about"))
        assert outcome.code is OutcomeCode.UNKNOWN_PRODUCT
        assert await hc.cart("fake", "u1") == []


async def test_a_link_to_a_host_that_is_not_listed_is_never_fetched(
    database_url: str, corner_shop: ShopStandin, elsewhere: ShopStandin
) -> None:
    elsewhere.add("/products/mug", "Enamel mug", 1250)
    async with running(database_url, [hashcart_shop], corner_shop) as hc:
        await hc.link("alice", "fake", "u1")
        outcome = await hc.hashcart.submit(command(reference=f"{elsewhere.url}/products/mug"))
        assert outcome.code is OutcomeCode.NOT_A_PRODUCT
    assert elsewhere.seen == []


# -- hand-off --------------------------------------------------------------------------------


async def test_the_shopify_hand_off_carries_exactly_the_cart(
    database_url: str, corner_shop: ShopStandin
) -> None:
    corner_shop.add("/products/hoodie", "Hoodie", 4500, currency="CAD", variant_id=111)
    corner_shop.add("/products/cap", "Cap", 1500, currency="CAD", variant_id=222)
    async with running(database_url, [hashcart_shop], corner_shop) as hc:
        account = await hc.link("alice", "fake", "u1")
        base = corner_shop.url
        await hc.hashcart.submit(command(reference=f"{base}/products/hoodie?variant=111"))
        await hc.hashcart.submit(
            command(event_id="e2", reference=f"{base}/products/cap?variant=222")
        )
        await hc.hashcart.submit(
            command(event_id="e3", reference=f"{base}/products/hoodie?variant=111")
        )
        cart = await admin_cart(hc, account)
        (handoff,) = cart["handoff"]
        assert handoff["store"] == cart["items"][0]["store"]
        assert handoff["url"].startswith(f"{base}/cart/")
        items = dict(pair.split(":") for pair in handoff["url"].rsplit("/", 1)[1].split(","))
        in_cart = {
            item["product_id"].rsplit("variant=", 1)[1]: str(item["quantity"])
            for item in cart["items"]
        }
        assert items == in_cart == {"111": "2", "222": "1"}
        assert cart["total_cents"] == 2 * 4500 + 1500
        assert cart["totals"] == [{"currency": "CAD", "cents": 10500}]
        listed = await hc.hashcart.submit(command("list", event_id="l1", reference=None))
        assert listed.params["handoffs"] == cart["handoff"]
        text = hc.hashcart.translate("en", "reply.listed", **listed.params)
        assert f"Continue at 127.0.0.1: {handoff['url']}" in text


async def test_usd_and_eur_prices_are_never_added(database_url: str) -> None:
    async with running(database_url, [ShopPlugin(), StoreCarts()]) as hc:
        await hc.add_product("shop:SKU1", "Blue mug", 1000, currency="USD")
        await hc.add_product("shop:SKU2", "Red kettle", 500, currency="EUR")
        account = await hc.link("alice", "fake", "u1")
        await hc.hashcart.submit(command(reference="https://shop.test/p/SKU1", quantity=2))
        await hc.hashcart.submit(command(event_id="e2", reference="https://shop.test/p/SKU2"))
        listed = await hc.hashcart.submit(command("list", event_id="l1", reference=None))
        assert listed.params["total"] == "$20.00 + €5.00"
        assert "total_cents" not in listed.params
        assert listed.params["totals"] == [
            {"currency": "USD", "cents": 2000},
            {"currency": "EUR", "cents": 500},
        ]
        cart = await admin_cart(hc, account)
        assert "total_cents" not in cart
        assert cart["totals"] == listed.params["totals"]
        # The hand-off of the test store: its items are the cart's.
        (handoff,) = cart["handoff"]
        assert dict(parse_qsl(urlsplit(handoff["url"]).query)) == {"SKU1": "2", "SKU2": "1"}


async def test_checkout_hands_off_when_no_plugin_places_orders(database_url: str) -> None:
    async with running(database_url, [ShopPlugin(), StoreCarts()]) as hc:
        await hc.add_product("shop:SKU1", "Blue mug", 1000)
        await hc.link("alice", "fake", "u1")
        await hc.hashcart.submit(command(reference="https://shop.test/p/SKU1"))
        checkout = await hc.hashcart.submit(command("checkout", event_id="c1", reference=None))
        assert checkout.code is OutcomeCode.CHECKOUT_HANDOFF
        text = hc.hashcart.translate("en", "reply.checkout_handoff", **checkout.params)
        assert "Continue at shop.test: https://shop.test/cart?SKU1=1" in text
        confirm = await hc.hashcart.submit(command("confirm", event_id="c2", reference=None))
        assert confirm.code is OutcomeCode.NOTHING_TO_CONFIRM
        assert len(await hc.cart("fake", "u1") or []) == 1


# -- prices checked again before a checkout is confirmed --------------------------------------


async def test_a_changed_price_before_confirm_asks_again(database_url: str) -> None:
    orders = TakesOrders()
    async with running(database_url, [ShopPlugin(), orders]) as hc:
        await hc.add_product("shop:SKU1", "Blue mug", 1000)
        await hc.link("alice", "fake", "u1")
        await hc.hashcart.submit(command(reference="https://shop.test/p/SKU1"))
        asked = await hc.hashcart.submit(command("checkout", event_id="c1", reference=None))
        assert asked.code is OutcomeCode.CHECKOUT_ASKED
        await hc.add_product("shop:SKU1", "Blue mug", 1200)  # the store raised the price
        again = await hc.hashcart.submit(command("confirm", event_id="c2", reference=None))
        assert again.code is OutcomeCode.PRICES_CHANGED
        assert "$10.00 → $12.00" in again.params["changes"]
        assert orders.orders == []
        assert [line["price_cents"] for line in await hc.cart("fake", "u1") or []] == [1200]
        placed = await hc.hashcart.submit(command("confirm", event_id="c3", reference=None))
        assert placed.code is OutcomeCode.ORDER_PENDING  # the shop is asked after the commit
        await eventually(lambda: len(orders.orders) == 1)
        assert [order.total_cents for order in orders.orders] == [1200]


async def test_an_item_gone_out_of_stock_before_confirm_is_taken_out_and_asked_again(
    database_url: str,
) -> None:
    orders = TakesOrders()
    async with running(database_url, [ShopPlugin(), orders]) as hc:
        await hc.add_product("shop:SKU1", "Blue mug", 1000)
        await hc.add_product("shop:SKU2", "Red kettle", 3000)
        await hc.link("alice", "fake", "u1")
        await hc.hashcart.submit(command(reference="https://shop.test/p/SKU1"))
        await hc.hashcart.submit(command(event_id="e2", reference="https://shop.test/p/SKU2"))
        await hc.hashcart.submit(command("checkout", event_id="c1", reference=None))
        await hc.add_product("shop:SKU2", "Red kettle", 3000, available=False)
        again = await hc.hashcart.submit(command("confirm", event_id="c2", reference=None))
        assert again.code is OutcomeCode.PRICES_CHANGED
        assert "Red kettle is out of stock" in again.params["changes"]
        assert orders.orders == []
        assert [line["title"] for line in await hc.cart("fake", "u1") or []] == ["Blue mug"]
        placed = await hc.hashcart.submit(command("confirm", event_id="c3", reference=None))
        assert placed.code is OutcomeCode.ORDER_PENDING
        await eventually(lambda: len(orders.orders) == 1)
        assert [line.product_id for line in orders.orders[0].lines] == ["shop:SKU1"]


async def test_amazon_lines_hand_off_once_per_marketplace_with_the_cart_s_items(
    database_url: str,
) -> None:
    async with running_hashcart(
        plugins=[FakePlatformPlugin(FakePlatform())],
        database_url=database_url,
        env={"HASHCART_ADMIN_TOKEN": ADMIN_TOKEN, "HASHCART_AMAZON_PARTNER_TAG": "corner-21"},
    ) as hc:
        await hc.add_product("amazon:B00X4WHP5E", "Echo Dot", 4999)
        await hc.add_product("amazon:B08N5WRWNW", "Kindle", 9999, currency="EUR")
        account = await hc.link("alice", "fake", "u1")
        await hc.hashcart.submit(
            command(reference="https://www.amazon.com/dp/B00X4WHP5E", quantity=3)
        )
        await hc.hashcart.submit(
            command(event_id="e2", reference="https://www.amazon.de/dp/B08N5WRWNW")
        )
        checkout = await hc.hashcart.submit(command("checkout", event_id="c1", reference=None))
        assert checkout.code is OutcomeCode.CHECKOUT_HANDOFF
        cart = await admin_cart(hc, account)
        assert cart["handoff"] == checkout.params["handoffs"]
        by_label = {entry["label"]: entry for entry in cart["handoff"]}
        assert set(by_label) == {"amazon.com", "amazon.de"}
        assert {entry["store"] for entry in cart["handoff"]} == {"amazon"}
        us = dict(parse_qsl(urlsplit(by_label["amazon.com"]["url"]).query))
        de = dict(parse_qsl(urlsplit(by_label["amazon.de"]["url"]).query))
        assert us == {"AssociateTag": "corner-21", "ASIN.1": "B00X4WHP5E", "Quantity.1": "3"}
        assert de == {"AssociateTag": "corner-21", "ASIN.1": "B08N5WRWNW", "Quantity.1": "1"}
        assert "total_cents" not in cart  # USD and EUR


def test_the_openapi_document_describes_handoff_and_per_currency_totals() -> None:
    from hashcart.web.admin import openapi_document

    schemas = openapi_document()["components"]["schemas"]
    cart = schemas["Cart"]
    assert {"items", "totals", "handoff"} <= set(cart["required"])
    assert "total_cents" not in cart["required"]
    assert "several currencies" in cart["properties"]["total_cents"]["description"]
    assert set(schemas["StoreHandoff"]["properties"]) == {"store", "url", "label"}
    assert {"store", "image_url", "priced_at"} <= set(schemas["CartItem"]["properties"])


async def test_lines_name_their_store_when_the_cart_holds_several(
    database_url: str, corner_shop: ShopStandin
) -> None:
    corner_shop.add("/products/mug", "Enamel mug", 1250, currency="EUR")
    async with running(database_url, [hashcart_shop, ShopPlugin()], corner_shop) as hc:
        await hc.add_product("shop:SKU1", "Blue mug", 1000)
        await hc.link("alice", "fake", "u1")
        await hc.hashcart.submit(command(reference="https://shop.test/p/SKU1"))
        alone = await hc.hashcart.submit(command("list", event_id="l1", reference=None))
        assert alone.params["lines"] == "1× Blue mug"
        await hc.hashcart.submit(
            command(event_id="e2", reference=f"{corner_shop.url}/products/mug")
        )
        both = await hc.hashcart.submit(command("list", event_id="l2", reference=None))
        assert both.params["lines"] == "1× Blue mug (shop.test), 1× Enamel mug (127.0.0.1)"


async def test_a_cart_emptied_by_sold_out_items_before_confirm_orders_nothing(
    database_url: str,
) -> None:
    orders = TakesOrders()
    async with running(database_url, [ShopPlugin(), orders]) as hc:
        await hc.add_product("shop:SKU1", "Blue mug", 1000)
        await hc.link("alice", "fake", "u1")
        await hc.hashcart.submit(command(reference="https://shop.test/p/SKU1"))
        await hc.hashcart.submit(command("checkout", event_id="c1", reference=None))
        await hc.add_product("shop:SKU1", "Blue mug", 1000, available=False)
        changed = await hc.hashcart.submit(command("confirm", event_id="c2", reference=None))
        assert changed.code is OutcomeCode.CART_CHANGED
        assert "Blue mug is out of stock" in changed.params["changes"]
        again = await hc.hashcart.submit(command("confirm", event_id="c3", reference=None))
        assert again.code is OutcomeCode.NOTHING_TO_CONFIRM
        assert orders.orders == [] and await hc.cart("fake", "u1") == []
