"""Carrying a cart to the stores' own carts, and totals that never add two currencies.

Lines are grouped by store and by the host of their product page, so an amazon.de line and an
amazon.com line go to two carts (one `hashcart_store_cart_url` each).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hashcart.commands import CartLine
from hashcart.i18n import money

if TYPE_CHECKING:
    from hashcart.app import Hashcart

log = logging.getLogger(__name__)

MAX_HANDOFF_URL = 8000


@dataclass(frozen=True, slots=True)
class Handoff:
    """One store's cart URL; `label` names it for people (`amazon.de`, `shop.example`)."""

    store: str
    url: str
    label: str

    def to_json(self) -> dict[str, str]:
        return {"store": self.store, "url": self.url, "label": self.label}


def store_of(product_id: str) -> str:
    return product_id.partition(":")[0]


def _host(url: str | None) -> str | None:
    """A page's host without `www.` (the marketplace of an Amazon line), None when unreadable."""
    try:
        return (urlsplit(url).hostname or "").removeprefix("www.") or None if url else None
    except ValueError:
        return None


def store_label(line: CartLine) -> str:
    """Where a line is bought, for people: its page's host (`amazon.de`), else its store."""
    return _host(line.url) or store_of(line.product_id)


def line_texts(lines: Sequence[CartLine]) -> list[str]:
    """`2× Mug` per line; `2× Mug (shop.example)` when the cart holds more than one store."""
    several = len({store_label(line) for line in lines}) > 1
    return [
        f"{line.quantity}× {line.title}" + (f" ({store_label(line)})" if several else "")
        for line in lines
    ]


def groups(lines: Sequence[CartLine]) -> list[tuple[str, list[CartLine]]]:
    """Lines by store and marketplace (the product page's host), in the cart's order."""
    found: dict[tuple[str, str | None], list[CartLine]] = {}
    for line in lines:
        found.setdefault((store_of(line.product_id), _host(line.url)), []).append(line)
    return [(store, group) for (store, _), group in found.items()]


async def handoffs(hashcart: Hashcart, lines: Sequence[CartLine]) -> list[Handoff]:
    """The hand-off URL of every store of the cart that can take its lines."""
    answers: list[Handoff] = []
    for store, group in groups(lines):
        try:
            url = await hashcart.plugins.first(
                "hashcart_store_cart_url", store=store, lines=tuple(group), hashcart=hashcart
            )
        except Exception as exc:  # a plugin's bug must not cost the user their cart listing
            log.warning("hashcart_store_cart_url failed for %s: %s", store, exc)
            continue
        usable = isinstance(url, str) and len(url) <= MAX_HANDOFF_URL
        if usable and urlsplit(url).scheme in ("http", "https"):
            answers.append(Handoff(store, url, _host(url) or store))
    return answers


def totals(lines: Sequence[CartLine]) -> list[tuple[str, int]]:
    """(currency, cents) per currency, in the order the currencies first appear."""
    sums: dict[str, int] = {}
    for line in lines:
        sums[line.currency] = sums.get(line.currency, 0) + line.price_cents * line.quantity
    return list(sums.items())


def money_totals(lines: Sequence[CartLine], locale: str | None) -> str:
    """`$19.99`, or `$19.99 + €5.00` for a cart priced in two currencies."""
    return " + ".join(money(cents, currency, locale) for currency, cents in totals(lines))


def cart_lines(cart: dict[str, Any]) -> list[CartLine]:
    """The lines of a cart as `Accounts.cart` reads it."""
    names = [line_field.name for line_field in fields(CartLine)]
    return [CartLine(**{name: item.get(name) for name in names}) for item in cart["items"]]
