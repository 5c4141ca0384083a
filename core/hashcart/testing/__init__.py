"""The test kit for hashcart and its plugins (a pytest plugin, loaded automatically), as
docs/testing.md describes it; each platform plugin's `testing` package plays its platform."""

from hashcart import Order, hookimpl
from hashcart.testing.harness import ADMIN_TOKEN as ADMIN_TOKEN
from hashcart.testing.harness import SESSION_SECRET as SESSION_SECRET
from hashcart.testing.harness import RunningHashcart as RunningHashcart
from hashcart.testing.harness import eventually as eventually
from hashcart.testing.harness import running_hashcart as running_hashcart


class TakesOrders:
    """Accepts every order and remembers it; the reference is `test-<n>`. Without any
    `hashcart_place_order`, `/cart checkout` hands the cart off to the stores' own carts instead
    of asking for a confirmation: a test of confirming registers this."""

    def __init__(self) -> None:
        self.orders: list[Order] = []

    @hookimpl
    def hashcart_place_order(self, order: Order) -> str:
        self.orders.append(order)
        return f"test-{len(self.orders)}"
