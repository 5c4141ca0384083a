"""The Amazon store plugin: Amazon product links become `ProductRef("amazon", ASIN)`.

Built in, but loaded through the same `hashcart.plugins` entry point as any third-party store.
"""

from __future__ import annotations

from collections.abc import Awaitable

from hashcart import Barcode, ProductRef, hookimpl
from hashcart_amazon.shortlinks import CACHE, expand_short_link, is_short_link
from hashcart_amazon.urls import product_from_url

__all__ = [
    "hashcart_product_from_barcode",
    "hashcart_product_from_url",
    "hashcart_resolve_redirect",
]


@hookimpl
def hashcart_product_from_url(url: str) -> ProductRef | None:
    return product_from_url(url)


@hookimpl
def hashcart_resolve_redirect(url: str) -> Awaitable[str | None] | None:
    """Expand amzn.to, a.co and friends; other URLs are left to other plugins.

    Deliberately not `async def`: declining with a plain None, not a coroutine that later yields
    None, keeps the hook first-result-wins even for a caller using pluggy's own dispatch (which
    would stop at any coroutine). Only a shortener link gets a coroutine, which the core awaits.
    """
    if not is_short_link(url):
        return None
    return expand_short_link(url, cache=CACHE)


@hookimpl
def hashcart_product_from_barcode(barcode: Barcode) -> ProductRef | None:
    """A book's ASIN is its ISBN-10, so an ISBN barcode names an Amazon product directly."""
    if barcode.isbn10 is None:
        return None
    return ProductRef("amazon", barcode.isbn10, f"https://www.amazon.com/dp/{barcode.isbn10}")
