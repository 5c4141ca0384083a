"""A store that takes orders, for tests of the checkout-and-confirm path.

Without any `hashcart_place_order` implementation, `/cart checkout` hands the cart off to the
stores' own carts instead of asking for a confirmation; a test of confirming registers this.
"""

from __future__ import annotations

from hashcart import Order, hookimpl


class TakesOrders:
    """Accepts every order and remembers it; the reference is `test-<n>`."""

    def __init__(self) -> None:
        self.orders: list[Order] = []

    @hookimpl
    def hashcart_place_order(self, order: Order) -> str:
        self.orders.append(order)
        return f"test-{len(self.orders)}"
