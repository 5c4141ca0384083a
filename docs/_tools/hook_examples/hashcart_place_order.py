from typing import Any

import aiohttp

from hashcart import hookimpl


@hookimpl
async def hashcart_place_order(order: Any, hashcart: Any) -> str | None:
    # `order` is the confirmed `Order`: `.order_id`, `.lines`, `.total_cents`, `.currency`.
    body = {
        "reference": order.order_id,
        "items": [{"sku": line.product_id, "quantity": line.quantity} for line in order.lines],
    }
    async with (
        aiohttp.ClientSession(timeout=hashcart.http_timeout) as session,
        session.post("https://shop.example/api/orders", json=body) as response,
    ):
        response.raise_for_status()  # raising refuses the order: nothing is ordered
        shop_order: dict[str, str] = await response.json()
    return shop_order["id"]
