"""The carts a group touches, read once, changed in memory, written back as a diff."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

Row = dict[str, Any]


@dataclass
class Line:
    title: str
    price_cents: int
    currency: str
    quantity: int
    added_via: str
    added_at: float
    url: str | None = None
    image_url: str | None = None
    priced_at: float | None = None

    def state(self) -> tuple[Any, ...]:
        return (self.quantity, self.title, self.price_cents, self.currency, self.priced_at)


Cart = dict[str, Line]
#: What a change to a line writes back (its origin, `added_via` and `added_at`, stays).
CHANGEABLE = ("title", "price_cents", "currency", "quantity", "url", "image_url", "priced_at")


class Carts:
    """Reading every cart once and writing the changes with one statement per kind is what makes
    a group cheap: a statement costs about a millisecond through aiosqlite, whatever it does.
    """

    def __init__(self, rows: Iterable[Any]) -> None:
        self.lines: dict[str, Cart] = {}
        self._before: dict[tuple[str, str], tuple[Any, ...]] = {}
        names = [field.name for field in fields(Line)]
        for row in rows:
            line = Line(**{name: getattr(row, name) for name in names})
            self.lines.setdefault(row.account_id, {})[row.product_id] = line
            self._before[(row.account_id, row.product_id)] = line.state()

    def of(self, account_id: str) -> Cart:
        return self.lines.setdefault(account_id, {})

    def changes(self, now: float) -> tuple[list[Row], list[Row], list[Row]]:
        """Rows to insert, rows to update and rows to delete."""
        inserts, updates, deletes = [], [], []
        after = {
            (account_id, product_id): line
            for account_id, cart in self.lines.items()
            for product_id, line in cart.items()
        }
        for key, line in after.items():
            account_id, product_id = key
            row = {"account_id": account_id, "product_id": product_id}
            if key not in self._before:
                inserts.append({**row, **vars(line), "updated_at": now})
            elif self._before[key] != line.state():
                changed = {name: getattr(line, name) for name in CHANGEABLE}
                updates.append(
                    {"b_account_id": account_id, "b_product_id": product_id, **changed,
                     "updated_at": now}
                )  # fmt: skip
        for key in self._before:
            if key not in after:
                deletes.append({"b_account_id": key[0], "b_product_id": key[1]})
        return inserts, updates, deletes


def fingerprint(cart: Cart) -> list[list[Any]]:
    """What a confirmation is about: every line's product, quantity and price."""
    return [[pid, line.quantity, line.price_cents] for pid, line in sorted(cart.items())]
