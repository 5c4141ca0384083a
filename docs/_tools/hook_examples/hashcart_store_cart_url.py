from collections.abc import Sequence
from urllib.parse import urlencode

from hashcart import CartLine, Host, hookimpl


@hookimpl
def hashcart_store_cart_url(store: str, lines: Sequence[CartLine], hashcart: Host) -> str | None:
    if store != "shop":
        return None
    items = {f"item.{n}": line.product_id.partition(":")[2] for n, line in enumerate(lines, 1)}
    counts = {f"qty.{n}": str(line.quantity) for n, line in enumerate(lines, 1)}
    return f"https://shop.example/cart/add?{urlencode(items | counts)}"
