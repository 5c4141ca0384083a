"""The Amazon store plugin: Amazon product links become `ProductRef("amazon", ASIN)`.

With Creators API credentials, products not in the local catalog are looked up live; a cart's
Amazon lines can be handed over to Amazon's own cart. Built in, but loaded through the same
`hashcart.plugins` entry point as any third-party store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

from pydantic_settings import BaseSettings

from hashcart import (
    Barcode,
    CartLine,
    ConfigError,
    Host,
    ProductRef,
    ProductSource,
    SourceUnavailable,
    hookimpl,
)
from hashcart_amazon.creators import CreatorsApiSource
from hashcart_amazon.handoff import cart_add_url
from hashcart_amazon.settings import AmazonSettings
from hashcart_amazon.shortlinks import CACHE, expand_short_link, is_short_link
from hashcart_amazon.urls import STORE, product_from_url


@hookimpl
def hashcart_settings() -> type[BaseSettings]:
    return AmazonSettings


@hookimpl
def hashcart_product_sources(hashcart: Host) -> ProductSource | None:
    settings = hashcart.settings_for(AmazonSettings)
    if not settings.live:
        return None
    problem = settings.problem()
    if problem is not None:
        raise ConfigError(problem)
    return CreatorsApiSource(settings, hashcart.counters)


@hookimpl
async def hashcart_doctor(hashcart: Host) -> list[tuple[str, bool, str]]:
    settings = hashcart.settings_for(AmazonSettings)
    if not settings.live:
        return [("amazon: live lookups", True, "off (HASHCART_AMAZON_CREDENTIAL_ID not set)")]
    problem = settings.problem()
    if problem is not None:
        return [("amazon: live lookups", False, problem)]
    try:
        await CreatorsApiSource(settings, hashcart.counters).check_credentials()
    except SourceUnavailable as exc:
        return [("amazon: Creators API token", False, f"{settings.token_url}: {exc.reason}")]
    return [("amazon: Creators API token", True, f"granted by {settings.token_url}")]


@hookimpl
def hashcart_store_cart_url(store: str, lines: Sequence[CartLine], hashcart: Host) -> str | None:
    if store != STORE:
        return None
    return cart_add_url(lines, hashcart.settings_for(AmazonSettings).partner_tag)


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
