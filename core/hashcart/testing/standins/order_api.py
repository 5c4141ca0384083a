"""A local shop that takes orders over HTTP, and the store plugin that sends them there.

The shop behaves as an order API with idempotency keys does (Stripe's, say): `POST /api/orders`
with an `Idempotency-Key` header makes an order the first time (201) and answers the same order
again for the same key (200), so a retry never orders twice. Tests arm faults (`fail_next`: 503s
or time-outs; `refuse_next`: a 422 the shop means) and read what arrived (`calls`, `orders`).

`ShopOrders` is the matching `hashcart_place_order` implementation. Cluster tests load it into
`hashcart serve` nodes as the entry point `test_shop` (see `hashcart.testing.cluster`); it then
reads the shop's address from `HASHCART_TEST_SHOP_URL`. After the shop has answered it passes the
fault point `orders.shop_call`, so a test can kill a node while the shop has the order and the
node does not know yet.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from hashcart import Order, RetryLater, fault_point, hookimpl
from hashcart.testing.standins import LocalServer

__all__ = ["OrderApiStandin", "OrderRefused", "ShopOrders", "plugin"]

URL_VARIABLE = "HASHCART_TEST_SHOP_URL"


@dataclass
class OrderApiStandin(LocalServer):
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The idempotency key of every call, in order (a retry repeats one).
    calls: list[str] = field(default_factory=list)
    url: str = ""
    _failures: list[int] = field(default_factory=list)
    _refusals: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/orders", self._create)
        return app

    def env(self) -> dict[str, str]:
        return {URL_VARIABLE: self.url}

    def fail_next(self, status: int = 503, *, times: int = 1) -> None:
        """The next `times` orders are answered `status` (0: no answer for 30 s, a time-out)."""
        self._failures.extend([status] * times)

    def refuse_next(self, times: int = 1) -> None:
        self._refusals += times

    def keys(self) -> list[str]:
        return list(self.calls)

    async def _create(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        body = await request.json()
        if not key or not isinstance(body, dict):
            return web.json_response({"error": "Idempotency-Key and a JSON body"}, status=400)
        self.calls.append(key)
        if self._failures:
            status = self._failures.pop(0)
            if status == 0:
                await asyncio.sleep(30)
            return web.json_response({"error": "unavailable"}, status=status or 504)
        if key in self.orders:
            return web.json_response(self.orders[key], status=200)
        if self._refusals:
            self._refusals -= 1
            return web.json_response({"error": "out of stock"}, status=422)
        self.orders[key] = {"id": f"shop-{next(self._ids)}", "items": body.get("items", [])}
        return web.json_response(self.orders[key], status=201)


class OrderRefused(Exception):
    """The shop said no (4xx): the order is refused, not retried."""


class ShopOrders:
    """`hashcart_place_order` against a `OrderApiStandin`, as a shop integration would write it."""

    def __init__(self, url: str | None = None) -> None:
        self._url = url

    @hookimpl
    async def hashcart_place_order(self, order: Order, hashcart: Any) -> str | None:
        url = self._url or os.environ[URL_VARIABLE]
        body = {
            "items": [{"sku": line.product_id, "quantity": line.quantity} for line in order.lines],
            "total_cents": order.total_cents,
            "currency": order.currency,
        }
        headers = {"Idempotency-Key": order.idempotency_key}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
                session.post(f"{url}/api/orders", json=body, headers=headers) as response,
            ):
                if response.status == 429 or response.status >= 500:
                    raise RetryLater(f"the shop answered {response.status}")
                answer = await response.json()
                if response.status >= 400:
                    raise OrderRefused(str(answer.get("error", response.status)))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(f"the shop is unreachable: {type(exc).__name__}") from exc
        await fault_point("orders.shop_call")
        return str(answer["id"])


#: The instance the `test_shop` entry point loads into a node.
plugin = ShopOrders()
