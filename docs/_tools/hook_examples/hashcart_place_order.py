from typing import Any

import aiohttp

from hashcart import Host, RetryLater, hookimpl


@hookimpl
async def hashcart_place_order(order: Any, hashcart: Host) -> str | None:
    # `order` is the confirmed `Order`: `.order_id`, `.lines`, `.total_cents`, `.currency`,
    # `.attempt` (1 on the first try) and `.idempotency_key`.
    body = {
        "reference": order.order_id,
        "items": [{"sku": line.product_id, "quantity": line.quantity} for line in order.lines],
    }
    # The same key on every try: a retry after a time-out finds the first order, not a second.
    headers = {"Idempotency-Key": order.idempotency_key}
    async with (
        aiohttp.ClientSession(timeout=hashcart.http_timeout) as session,
        session.post("https://shop.example/api/orders", json=body, headers=headers) as response,
    ):
        if response.status == 429 or response.status >= 500:
            raise RetryLater(f"the shop answered {response.status}")  # asked again later
        response.raise_for_status()  # any other error refuses the order: nothing is ordered
        shop_order: dict[str, str] = await response.json()
    return shop_order["id"]
