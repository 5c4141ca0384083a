"""A shop's own sign-in through `hashcart_authenticate`: its customers see their cart at once."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from hashcart import hookimpl
from hashcart.testing import running_hashcart


class ShopSignIn:
    def __init__(self) -> None:
        self.accounts: dict[str, str] = {}

    @hookimpl
    def hashcart_authenticate(self, request: web.Request, hashcart: Any) -> str | None:
        return self.accounts.get(request.headers.get("X-Shop-Customer", ""))


async def test_a_shop_customer_sees_their_cart_without_hashcart_sign_in():
    shop = ShopSignIn()
    async with running_hashcart(plugins=[shop]) as hc:
        account_id = await hc.link("carol", "x", "42")
        shop.accounts["c-1"] = account_id
        jar = aiohttp.CookieJar(unsafe=True)  # the server is an IP address
        async with aiohttp.ClientSession(base_url=hc.url, cookie_jar=jar) as session:
            async with session.get("/cart", allow_redirects=False) as anonymous:
                assert anonymous.status == 303
            async with session.get("/cart", headers={"X-Shop-Customer": "nobody"}) as unknown:
                assert "Sign in" in await unknown.text()
            async with session.get("/cart", headers={"X-Shop-Customer": "c-1"}) as response:
                assert response.status == 200
                assert "carol" in await response.text()
            # The shop is asked on every request: without its customer, the cookie shows nothing.
            async with session.get("/cart", allow_redirects=False) as again:
                assert again.status == 303
