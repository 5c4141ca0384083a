"""Hand a cart over to Amazon's own cart: the Associates "add to cart" form, one per marketplace
(a marketplace only sells its own offers); the partner tag credits the purchase to the operator's
Associates account."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import urlencode

from hashcart import CartLine
from hashcart_amazon.urls import STORE, marketplace_of_url, valid_asin

log = logging.getLogger(__name__)


def cart_add_urls(lines: Sequence[CartLine], partner_tag: str | None) -> dict[str, str]:
    """The add-to-cart URL of each marketplace the Amazon lines were priced on."""
    by_marketplace: dict[str, list[tuple[str, int]]] = {}
    for line in lines:
        store, _, sku = line.product_id.partition(":")
        asin = valid_asin(sku) if store == STORE else None
        if asin is None or line.quantity < 1:
            continue
        by_marketplace.setdefault(marketplace_of_url(line.url), []).append((asin, line.quantity))
    urls = {}
    for marketplace, items in by_marketplace.items():
        query: list[tuple[str, str]] = [("AssociateTag", partner_tag)] if partner_tag else []
        for number, (asin, quantity) in enumerate(items, 1):
            query += [(f"ASIN.{number}", asin), (f"Quantity.{number}", str(quantity))]
        urls[marketplace] = f"https://www.{marketplace}/gp/aws/cart/add.html?{urlencode(query)}"
    return urls


def cart_add_url(lines: Sequence[CartLine], partner_tag: str | None) -> str | None:
    """The one URL for lines of one marketplace (what `hashcart_store_cart_url` is asked for)."""
    urls = cart_add_urls(lines, partner_tag)
    if len(urls) > 1:
        # The core groups lines by the host of their page; lines without one cannot be split.
        log.warning("Amazon hand-off asked for lines of %d marketplaces at once", len(urls))
        return None
    return next(iter(urls.values()), None)
