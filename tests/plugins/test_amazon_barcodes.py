"""The amazon plugin maps ISBN barcodes to ASINs (a book's ASIN is its ISBN-10)."""

from __future__ import annotations

import hashcart_amazon
from hashcart import OutcomeCode, parse_barcode
from hashcart.testing import running_hashcart


def test_isbn_barcodes_become_asins():
    for digits in ("9780316769488", "0316769487"):
        barcode = parse_barcode(digits)
        assert barcode is not None
        ref = hashcart_amazon.hashcart_product_from_barcode(barcode)
        assert ref is not None and ref.product_id == "amazon:0316769487"
    ean = parse_barcode("0885909950805")
    assert ean is not None and hashcart_amazon.hashcart_product_from_barcode(ean) is None


async def test_isbn_adds_the_book_end_to_end():
    from hashcart import Action, CartCommand, ReplyTarget

    async with running_hashcart(plugins=[hashcart_amazon]) as hc:
        await hc.add_product("amazon:0316769487", "The Catcher in the Rye", 999)
        await hc.link("alice", "x", "1")
        outcome = await hc.hashcart.submit(
            CartCommand(
                "x", "1", Action.ADD, "e1", ReplyTarget("x", "1"), reference="9780316769488"
            )
        )
        assert outcome.code is OutcomeCode.ADDED
        assert outcome.params["title"] == "The Catcher in the Rye"
