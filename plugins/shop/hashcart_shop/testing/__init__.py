"""A local web shop for tests, the playground and plugin authors: `ShopStandin`."""

from __future__ import annotations

from hashcart import hookimpl
from hashcart_shop.testing.standin import ShopStandin as ShopStandin


@hookimpl
def hashcart_standins() -> ShopStandin:
    return ShopStandin()
