"""Barcodes as product references and confirmed checkout (issue 10), through the core."""

from __future__ import annotations

import time

import aiohttp
from hypothesis import given
from hypothesis import strategies as st

from hashcart import OutcomeCode
from hashcart.barcodes import (
    InvalidBarcode,
    ean_check_digit,
    extract_barcodes,
    isbn10_check_digit,
    parse_barcode,
)
from hashcart.catalog import CatalogEntry
from hashcart.testing import ADMIN_TOKEN, RunningHashcart, eventually
from tests.core.fakes import FakePlatform, command


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_every_ean13_with_its_check_digit_parses_and_any_other_digit_fails(body: str):
    good = body + ean_check_digit(body)
    parsed = parse_barcode(good)
    assert parsed is not None and parsed.gtin13 == good
    for wrong in set("0123456789") - {good[-1]}:
        try:
            parse_barcode(body + wrong)
        except InvalidBarcode:
            continue
        raise AssertionError(f"{body + wrong} was accepted")


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_upca_is_ean13_with_a_leading_zero(body: str):
    upc = body + ean_check_digit(body)
    parsed = parse_barcode(upc)
    assert parsed is not None and parsed.kind == "upca" and parsed.gtin13 == "0" + upc
    assert parse_barcode("0" + upc) is not None


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_isbn10_and_isbn13_name_the_same_book(body: str):
    isbn10 = body + isbn10_check_digit(body)
    from_ten = parse_barcode(isbn10)
    assert from_ten is not None
    from_thirteen = parse_barcode(from_ten.gtin13)
    assert from_thirteen is not None and from_thirteen.kind == "isbn13"
    assert from_thirteen.isbn10 == isbn10 and from_ten.isbn10 == isbn10


def test_known_barcodes():
    book = parse_barcode("9780316769488")
    assert book is not None and book.isbn10 == "0316769487"
    assert parse_barcode("0885909950805") is not None
    assert parse_barcode("080687X") is None  # not shaped like one
    assert parse_barcode("https://x.test") is None
    assert extract_barcodes("#amazoncart 9780316769488. and 0316769487") == [
        "9780316769488",
        "0316769487",
    ]
    assert extract_barcodes("https://a.test/9780316769488 12345") == []


async def test_barcode_adds_through_the_catalog_and_bad_checksum_is_answered(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    await hc.hashcart.catalog.upsert(
        [CatalogEntry("shop:TOASTER", "Toaster", 2999, barcode="0885909950805")]
    )
    await hc.link("alice", "fake", "u1")
    upc = await hc.hashcart.submit(command(event_id="b1", reference="885909950805"))
    assert upc.code is OutcomeCode.ADDED and upc.params["title"] == "Toaster"
    typo = await hc.hashcart.submit(command(event_id="b2", reference="0885909950806"))
    assert typo.code is OutcomeCode.INVALID_BARCODE and not typo.silent
    unknown = await hc.hashcart.submit(command(event_id="b3", reference="9780316769488"))
    assert unknown.code is OutcomeCode.UNKNOWN_PRODUCT
    await eventually(lambda: len(fake_platform.sent) == 3)
    assert fake_platform.sent[1].content.text == "That is not a valid barcode: check the digits."


async def test_checkout_confirm_places_one_order(hc: RunningHashcart, fake_platform: FakePlatform):
    account_id = await hc.link("alice", "fake", "u1")
    submit = hc.hashcart.submit
    await submit(command(event_id="a1", quantity=2))
    asked = await submit(command("checkout", event_id="c1", reference=None))
    assert asked.code is OutcomeCode.CHECKOUT_ASKED and asked.params["total_cents"] == 2500
    pending = await submit(command("confirm", event_id="c2", reference=None))
    assert pending.code is OutcomeCode.ORDER_PENDING and pending.params["total_cents"] == 2500
    again = await submit(command("confirm", event_id="c3", reference=None))
    assert again.code is OutcomeCode.NOTHING_TO_CONFIRM
    assert await hc.cart("fake", "u1") == []
    await eventually(
        lambda: any(r.outcome.code is OutcomeCode.ORDER_PLACED for r in fake_platform.sent)
    )
    async with (
        aiohttp.ClientSession(
            base_url=hc.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as s,
        s.get(f"/api/v1/accounts/{account_id}/orders") as response,
    ):
        assert response.status == 200
        orders = (await response.json())["orders"]
    assert len(orders) == 1 and orders[0]["total_cents"] == 2500
    assert orders[0]["status"] == "placed"
    assert orders[0]["items"] == [
        {"product_id": "shop:SKU1", "title": "Blue mug", "quantity": 2, "price_cents": 1250,
         "currency": "USD"}
    ]  # fmt: skip


async def test_checkout_refuses_a_changed_cart_and_an_expired_window(hc: RunningHashcart):
    await hc.link("alice", "fake", "u1")
    submit = hc.hashcart.submit
    await submit(command(event_id="a1"))
    await submit(command("checkout", event_id="c1", reference=None))
    await submit(command(event_id="a2", reference="https://shop.test/p/SKU2"))
    changed = await submit(command("confirm", event_id="c2", reference=None))
    assert changed.code is OutcomeCode.CART_CHANGED
    assert len(await hc.cart("fake", "u1") or []) == 2

    hc.hashcart.settings.link_token_minutes = 1
    await submit(command("checkout", event_id="c3", reference=None))
    real_time = time.time
    try:
        time.time = lambda: real_time() + 3600  # type: ignore[assignment]
        expired = await submit(command("confirm", event_id="c4", reference=None))
    finally:
        time.time = real_time  # type: ignore[assignment]
    assert expired.code is OutcomeCode.CONFIRM_EXPIRED
    empty = await submit(command("checkout", event_id="c5", reference=None, user_id="u1"))
    assert empty.code is OutcomeCode.CHECKOUT_ASKED


async def test_large_adds_ask_first(hc: RunningHashcart):
    await hc.link("alice", "fake", "u1")
    submit = hc.hashcart.submit
    big = await submit(command(event_id="a1", quantity=11))
    assert big.code is OutcomeCode.CONFIRM_ADD and big.params["quantity"] == 11
    assert await hc.cart("fake", "u1") == []
    confirmed = await submit(command("confirm", event_id="c1", reference=None))
    assert confirmed.code is OutcomeCode.ADDED
    cart = await hc.cart("fake", "u1")
    assert cart is not None and cart[0]["quantity"] == 11
    ten = await submit(command(event_id="a2", reference="https://shop.test/p/SKU2", quantity=10))
    assert ten.code is OutcomeCode.ADDED  # 10 items for $399.90: neither limit is passed
    await hc.add_product("shop:BIGTV", "Television", 60_000)
    expensive = await submit(command(event_id="a3", reference="https://shop.test/p/BIGTV"))
    assert expensive.code is OutcomeCode.CONFIRM_ADD and expensive.params["total"] == "$600.00"
