"""The shop plugin: product pages of the shops listed in `HASHCART_SHOP_HOSTS` become products.

A link to a listed shop names a product (`<host>:<path>`); its title, price, currency,
availability and image are read from the page's schema.org data through a fetch that cannot
leave the listed shops. A cart of a Shopify shop hands off to the shop's own cart.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pydantic_settings import BaseSettings

from hashcart import CartLine, ProductRef, ProductSource, SourceUnavailable, hookimpl
from hashcart_shop.guard import GuardedClient, Refused
from hashcart_shop.identity import product_ref
from hashcart_shop.settings import ShopList, ShopSettings
from hashcart_shop.shopify import cart_permalink
from hashcart_shop.source import ShopSource


class _Configured:
    """The shops of the running server; `hashcart_product_from_url` has no server to ask."""

    shops: ShopList | None = None


@lru_cache(maxsize=4)
def _from_environment(hosts: str) -> ShopList:
    return ShopList(ShopSettings(hosts=hosts).shop_hosts())


def _shops() -> ShopList:
    return _Configured.shops or _from_environment(os.environ.get("HASHCART_SHOP_HOSTS", ""))


def _configure(hashcart: Any) -> ShopList:
    _Configured.shops = ShopList(hashcart.settings_for(ShopSettings).shop_hosts())
    return _Configured.shops


@hookimpl
def hashcart_settings() -> type[BaseSettings]:
    return ShopSettings


@hookimpl
def hashcart_web_routes(hashcart: Any, app: Any) -> None:
    _configure(hashcart)


@hookimpl
def hashcart_product_sources(hashcart: Any) -> ProductSource | None:
    shops = _configure(hashcart)
    return ShopSource(shops) if shops.hosts else None


@hookimpl
def hashcart_product_from_url(url: str) -> ProductRef | None:
    return product_ref(url, _shops())


@hookimpl
def hashcart_store_cart_url(store: str, lines: Sequence[CartLine]) -> str | None:
    return cart_permalink(store, lines, _shops())


@hookimpl
async def hashcart_doctor(hashcart: Any) -> list[tuple[str, bool, str]]:
    """Each listed shop is reached the way its pages will be: through the guarded fetch."""
    shops = _configure(hashcart)
    if not shops.hosts:
        return [("shop: product pages", True, "off (HASHCART_SHOP_HOSTS is empty)")]
    client = GuardedClient(shops)
    rows: list[tuple[str, bool, str]] = []
    for shop in shops.hosts:
        check = f"shop: {shop.origin} reachable"
        try:
            await client.get(shop.origin + "/", "text/html")
        except Refused as exc:
            # An answer other than 200 still shows the shop is there and allowed.
            rows.append((check, str(exc).startswith("the shop answered"), str(exc)))
        except SourceUnavailable as exc:
            rows.append((check, False, exc.reason))
        else:
            rows.append((check, True, "answers"))
    return rows
