"""Shopify: a `variant=` link is priced from `/products/<handle>.js`, and a cart of a Shopify shop
hands off as a cart permalink, `/cart/<variant>:<quantity>,…`, which fills the shop's own cart."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hashcart import CartLine, ProductRef
from hashcart_shop.identity import variant_of
from hashcart_shop.settings import ShopList

_PRODUCT_PATH = re.compile(r"^/products/([A-Za-z0-9][A-Za-z0-9_%.-]{0,200})$")


@dataclass(frozen=True, slots=True)
class Variant:
    title: str
    price_cents: int
    available: bool
    image_url: str | None


def product_json_path(page_url: str) -> str | None:
    """`/products/<handle>.js` for a Shopify product page, None for any other path."""
    match = _PRODUCT_PATH.match(urlsplit(page_url).path)
    return f"/products/{match.group(1)}.js" if match else None


def read_variant(body: bytes, wanted: str) -> Variant | None:
    """The variant `wanted` of a `/products/<handle>.js` answer, or None."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("variants"), list):
        return None
    variants = [v for v in data["variants"][:250] if isinstance(v, dict)]
    chosen = next((v for v in variants if str(v.get("id")) == wanted), None)
    if chosen is None or not isinstance(chosen.get("price"), int) or chosen["price"] < 0:
        return None
    product_title = str(data.get("title") or "")[:200]
    variant_title = str(chosen.get("title") or "")[:95]
    title = product_title
    if variant_title and variant_title != "Default Title":
        title = f"{product_title} – {variant_title}"
    image = chosen.get("featured_image")
    image_url = image.get("src") if isinstance(image, dict) else data.get("featured_image")
    if isinstance(image_url, str) and image_url.startswith("//"):
        image_url = "https:" + image_url
    return Variant(
        title=title,
        price_cents=chosen["price"],
        available=bool(chosen.get("available")),
        image_url=image_url if isinstance(image_url, str) and len(image_url) <= 1000 else None,
    )


def cart_permalink(store: str, lines: Sequence[CartLine], shops: ShopList) -> str | None:
    """The Shopify cart permalink for these lines, or None unless every line names its variant
    (a hand-off that silently leaves a line behind would not be the cart)."""
    shop = shops.for_store(store)
    if shop is None or not lines:
        return None
    quantities: dict[str, int] = {}
    for line in lines:
        variant = variant_of(line.url) or variant_of(_sku_url(line.product_id))
        if variant is None:
            return None
        quantities[variant] = quantities.get(variant, 0) + line.quantity
    items = ",".join(f"{variant}:{quantity}" for variant, quantity in quantities.items())
    return f"{shop.origin}/cart/{items}"


def _sku_url(product_id: str) -> str | None:
    try:
        sku = ProductRef.parse(product_id).sku
    except ValueError:
        return None
    return sku if sku.startswith("/") else None
