"""Reading a product out of a page: schema.org `Product` in JSON-LD, microdata or RDFa (extruct
does the parsing), OpenGraph product tags when there is nothing better.

Pages are written by strangers: every value is bounded and checked, and a page that names no
product with a price in a currency is not a product (a guess would put a wrong price in a cart).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import chain
from typing import Any
from urllib.parse import urljoin, urlsplit

import extruct

MAX_TITLE = 300
MAX_IMAGE_URL = 1000
MAX_CENTS = 100_000_000_00
_SCHEMA = ("https://schema.org/", "http://schema.org/")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_GONE = ("outofstock", "soldout", "discontinued", "oos", "out of stock")


@dataclass(frozen=True, slots=True)
class PageProduct:
    title: str
    price_cents: int
    currency: str
    available: bool
    image_url: str | None = None


def read_product(html: str | bytes, url: str) -> PageProduct | None:
    """The page's product, or None when it has no usable product data."""
    data = extruct.extract(
        html,
        base_url=url,
        syntaxes=["json-ld", "microdata", "rdfa", "opengraph"],
        uniform=True,
        errors="ignore",
    )
    nodes = [
        *_walk(data.get("json-ld") or []),
        *_walk(data.get("microdata") or []),
        *_walk(_rdfa_nodes(data.get("rdfa") or [])),
    ]
    products = (
        _from_schema(node, url)
        for node in nodes
        if _is_type(node, "Product") or _is_type(node, "ProductGroup")
    )
    graphs = (_from_opengraph(graph, url) for graph in data.get("opengraph") or [])
    return next((found for found in chain(products, graphs) if found is not None), None)


def _walk(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every dict in a JSON-LD tree (@graph, lists, nesting), bounded in depth."""
    if depth > 8:
        return
    if isinstance(value, list):
        for item in value[:200]:
            yield from _walk(item, depth + 1)
    elif isinstance(value, dict):
        yield value
        for key in ("@graph", "mainEntity", "itemListElement", "item"):
            if key in value:
                yield from _walk(value[key], depth + 1)


def _is_type(node: dict[str, Any], name: str) -> bool:
    kinds = node.get("@type")
    return any(
        isinstance(kind, str) and kind.removeprefix(_SCHEMA[0]).removeprefix(_SCHEMA[1]) == name
        for kind in (kinds if isinstance(kinds, list) else [kinds])
    )


def _rdfa_nodes(expanded: list[Any]) -> list[dict[str, Any]]:
    """extruct gives RDFa as expanded JSON-LD; fold it back into plain schema.org nodes."""
    by_id = {node.get("@id"): node for node in expanded if isinstance(node, dict)}

    def fold(node: dict[str, Any], depth: int) -> dict[str, Any]:
        plain: dict[str, Any] = {"@type": node.get("@type")}
        for key, values in node.items():
            name = key.removeprefix(_SCHEMA[0]).removeprefix(_SCHEMA[1])
            if key.startswith("@") or name == key or not isinstance(values, list) or not values:
                continue
            first = values[0]
            if isinstance(first, dict) and "@value" in first:
                plain[name] = first["@value"]
            elif isinstance(first, dict) and "@id" in first:
                target = by_id.get(first["@id"])
                if target is not None and depth < 3 and target is not node:
                    plain[name] = fold(target, depth + 1)
                else:
                    plain[name] = first["@id"]
        return plain

    return [fold(node, 0) for node in by_id.values() if isinstance(node, dict)]


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _text(value: Any, limit: int) -> str | None:
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("@value") or value.get("name")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    cleaned = " ".join(value.split())
    return cleaned[:limit] or None


def cents(value: Any) -> int | None:
    """A schema.org price (a number, or a string with a dot for decimals) in whole cents."""
    text = _text(value, 40)
    if text is None:
        return None
    text = text.replace(" ", "").replace(",", "") if "." in text else text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    found = int((amount * 100).to_integral_value())
    return found if found <= MAX_CENTS else None


def _currency(value: Any) -> str | None:
    text = (_text(value, 10) or "").upper()
    return text if _CURRENCY.match(text) else None


def _available(value: Any) -> bool:
    text = (_text(value, 100) or "").lower().rstrip("/")
    tail = text.rsplit("/", 1)[-1]
    return not any(tail == gone or text == gone for gone in _GONE)


def _image(value: Any, base: str) -> str | None:
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("url") or value.get("contentUrl")
    text = _text(value, MAX_IMAGE_URL)
    if text is None:
        return None
    absolute = urljoin(base, text)
    if urlsplit(absolute).scheme not in ("http", "https") or len(absolute) > MAX_IMAGE_URL:
        return None
    return absolute


def _offers(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    offers = node.get("offers")
    for offer in offers[:50] if isinstance(offers, list) else [offers]:
        if isinstance(offer, dict):
            yield offer
            nested = offer.get("offers")
            if isinstance(nested, list):
                yield from (o for o in nested[:50] if isinstance(o, dict))
    variants = node.get("hasVariant")
    for variant in variants[:50] if isinstance(variants, list) else [variants]:
        if isinstance(variant, dict):
            yield from _offers(variant)


def _offer_price(offer: dict[str, Any]) -> tuple[int, str] | None:
    spec = _first(offer.get("priceSpecification"))
    spec = spec if isinstance(spec, dict) else {}
    price = cents(offer.get("price", offer.get("lowPrice", spec.get("price"))))
    currency = _currency(offer.get("priceCurrency") or spec.get("priceCurrency"))
    if price is None or currency is None:
        return None
    return price, currency


def _from_schema(node: dict[str, Any], url: str) -> PageProduct | None:
    title = _text(node.get("name"), MAX_TITLE)
    if title is None:
        return None
    for offer in _offers(node):
        priced = _offer_price(offer)
        if priced is None:
            continue
        return PageProduct(
            title=title,
            price_cents=priced[0],
            currency=priced[1],
            available=_available(offer.get("availability")),
            image_url=_image(node.get("image"), url),
        )
    return None


def _from_opengraph(graph: dict[str, Any], url: str) -> PageProduct | None:
    kind = (_text(graph.get("@type") or graph.get("og:type"), 40) or "").lower()
    if not kind.startswith("product") and "product:price:amount" not in graph:
        return None
    title = _text(graph.get("og:title"), MAX_TITLE)
    price = cents(graph.get("product:price:amount") or graph.get("og:price:amount"))
    currency = _currency(graph.get("product:price:currency") or graph.get("og:price:currency"))
    if title is None or price is None or currency is None:
        return None
    return PageProduct(
        title=title,
        price_cents=price,
        currency=currency,
        available=_available(graph.get("product:availability") or graph.get("og:availability")),
        image_url=_image(graph.get("og:image"), url),
    )
