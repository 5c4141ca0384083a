"""Handing a cart to Amazon's own cart: one add-to-cart link per marketplace, items equal to the
cart, credited to the operator's partner tag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from hashcart import CartLine, OutcomeCode
from hashcart.testing import RunningHashcart, running_hashcart
from hashcart_amazon.handoff import cart_add_urls
from hashcart_amazon.testing import CreatorsStandin
from tests.core.fakes import FakePlatform, FakePlatformPlugin, command

ECHO = "B00X4WHP5E"
KINDLE = "B0916J478T"


def items_of(url: str) -> tuple[str, str, list[tuple[str, int]]]:
    """Host, AssociateTag and (ASIN, quantity) pairs of an add-to-cart URL."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    pairs = []
    n = 1
    while f"ASIN.{n}" in query:
        pairs.append((query[f"ASIN.{n}"], int(query[f"Quantity.{n}"])))
        n += 1
    assert parts.path == "/gp/aws/cart/add.html" and parts.scheme == "https"
    return parts.hostname or "", query.get("AssociateTag", ""), pairs


@pytest.fixture
async def hc(database_url: str, fake_platform: FakePlatform) -> AsyncIterator[RunningHashcart]:
    async with CreatorsStandin() as api:
        api.add_item("www.amazon.com", ECHO, "Echo Dot", "49.99", "USD")
        api.add_item("www.amazon.com", KINDLE, "Kindle", "99.99", "USD")
        async with running_hashcart(
            plugins=[FakePlatformPlugin(fake_platform)],
            database_url=database_url,
            env=api.env(partner_tag="hashcart-21"),
        ) as running:
            await running.link("alice", "fake", "u1")
            yield running


async def test_the_handoff_url_holds_exactly_the_carts_amazon_items(hc: RunningHashcart):
    for n, asin in enumerate([ECHO, KINDLE, ECHO]):
        outcome = await hc.hashcart.submit(
            command(event_id=f"e{n}", reference=f"https://www.amazon.com/dp/{asin}")
        )
        assert outcome.code in (OutcomeCode.ADDED, OutcomeCode.INCREASED)
    cart = await hc.cart("fake", "u1")
    assert cart is not None
    lines = [
        CartLine(
            item["product_id"],
            item["title"],
            item["quantity"],
            item["price_cents"],
            item["currency"],
            f"https://www.amazon.com/dp/{item['product_id'].partition(':')[2]}",
        )
        for item in cart
    ]
    url = await hc.hashcart.plugins.first(
        "hashcart_store_cart_url", store="amazon", lines=lines, hashcart=hc.hashcart
    )
    host, tag, pairs = items_of(url)
    assert (host, tag) == ("www.amazon.com", "hashcart-21")
    assert sorted(pairs) == sorted(
        (item["product_id"].partition(":")[2], item["quantity"]) for item in cart
    )
    assert dict(pairs) == {ECHO: 2, KINDLE: 1}
    other = await hc.hashcart.plugins.first(
        "hashcart_store_cart_url", store="shop.example", lines=lines, hashcart=hc.hashcart
    )
    assert other is None


def test_one_url_per_marketplace_and_no_tag_without_a_partner_tag():
    lines = [
        CartLine(f"amazon:{ECHO}", "Echo", 2, 4999, "USD", f"https://www.amazon.com/dp/{ECHO}"),
        CartLine(f"amazon:{ECHO}", "Echo", 1, 4499, "EUR", f"https://www.amazon.de/dp/{ECHO}"),
        CartLine(f"amazon:{KINDLE}", "Kindle", 3, 9999, "USD", None),
        CartLine("shop.example:SKU1", "Mug", 1, 500, "EUR", "https://shop.example/p/1"),
    ]
    urls = cart_add_urls(lines, "tag-21")
    assert set(urls) == {"amazon.com", "amazon.de"}
    assert items_of(urls["amazon.com"]) == ("www.amazon.com", "tag-21", [(ECHO, 2), (KINDLE, 3)])
    assert items_of(urls["amazon.de"]) == ("www.amazon.de", "tag-21", [(ECHO, 1)])
    untagged = cart_add_urls(lines[:1], None)
    assert "AssociateTag" not in untagged["amazon.com"]
