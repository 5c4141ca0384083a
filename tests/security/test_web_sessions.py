"""Web sessions end when they should: a shop's sign-in changes hands, sign-out everywhere, a
new password. Over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from itsdangerous import URLSafeTimedSerializer

from hashcart import hookimpl
from hashcart.testing import RunningHashcart, running_hashcart
from hashcart.web.auth import hash_password
from tests.web.visitor import Visitor

SESSION_ENV = {"HASHCART_SESSION_SECRET": "test-session-secret-0123456789"}


class ShopSignIn:
    """The shop's own sign-in: whoever the `X-Shop-Customer` header names."""

    def __init__(self) -> None:
        self.accounts: dict[str, str] = {}

    @hookimpl
    def hashcart_authenticate(self, request: web.Request, hashcart: Any) -> str | None:
        return self.accounts.get(request.headers.get("X-Shop-Customer", ""))


@pytest.fixture
def shop() -> ShopSignIn:
    return ShopSignIn()


@pytest.fixture
async def site(database_url: str, shop: ShopSignIn) -> AsyncIterator[RunningHashcart]:
    async with running_hashcart(
        plugins=[shop], env=SESSION_ENV, database_url=database_url, with_amazon=False
    ) as hc:
        await hc.add_product("shop:MUG", "Blue mug", 1250)
        yield hc


async def _cart(session: aiohttp.ClientSession, customer: str | None) -> tuple[int, str]:
    headers = {"X-Shop-Customer": customer} if customer else {}
    async with session.get("/cart", headers=headers, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def test_shared_computer_next_shop_customer_does_not_get_the_previous_cart(
    site: RunningHashcart, shop: ShopSignIn
) -> None:
    shop.accounts["c-carol"] = await site.link("carol", "x", "1")
    shop.accounts["c-dave"] = await site.link("dave", "x", "2")
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=site.url, cookie_jar=jar) as browser:
        status, text = await _cart(browser, "c-carol")
        assert status == 200 and "carol" in text
        # Carol walks away; the shop now says dave is at this computer.
        status, text = await _cart(browser, "c-dave")
        assert status == 200 and "dave" in text and "carol" not in text
        # Then the shop signs dave out: the cookie the shop's answer started shows nothing.
        status, _ = await _cart(browser, None)
        assert status == 303
        status, _ = await _cart(browser, "c-nobody")
        assert status == 303


async def test_shared_computer_next_shop_customer_cannot_edit_the_previous_cart(
    site: RunningHashcart, shop: ShopSignIn
) -> None:
    carol = shop.accounts["c-carol"] = await site.link("carol", "x", "1")
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=site.url, cookie_jar=jar) as browser:
        async with browser.get("/cart", headers={"X-Shop-Customer": "c-carol"}) as page:
            text = await page.text()
        csrf = text.split('name="csrf" value="')[1].split('"')[0]
        # The next customer (not signed in at the shop) posts with the cookie left behind.
        async with browser.post(
            "/cart/privacy", data={"csrf": csrf, "dm_only": "on"}, allow_redirects=False
        ) as posted:
            assert posted.headers["Location"].startswith("/signin")
    assert (await site.hashcart.accounts.get(carol))["dm_only"] is False


async def _copied_cookie(site: RunningHashcart, visitor: Visitor) -> str:
    return next(c.value for c in visitor.session.cookie_jar if c.key == "hashcart_session")


async def _cart_with(site: RunningHashcart, cookie: str) -> int:
    async with (
        aiohttp.ClientSession() as raw,
        raw.get(
            f"{site.url}/cart", cookies={"hashcart_session": cookie}, allow_redirects=False
        ) as resp,
    ):
        return resp.status


async def test_a_stolen_cookie_does_not_survive_sign_out_everywhere(
    site: RunningHashcart,
) -> None:
    alice = Visitor(site.url)
    other_browser = Visitor(site.url)
    try:
        await alice.sign_up("alice", "the right password")
        stolen = await _copied_cookie(site, alice)
        assert await _cart_with(site, stolen) == 200
        assert (await other_browser.sign_in("alice", "the right password")).status == 303
        await alice.get("/cart")
        out = await alice.post("/signout", {"everywhere": "yes"})
        assert (out.status, out.headers["Location"]) == (303, "/signin")
        assert await _cart_with(site, stolen) == 303
        assert (await other_browser.get("/cart")).status == 303
        # Signing in again works and makes a cookie that is valid.
        assert (await alice.sign_in("alice", "the right password")).status == 303
        assert (await alice.get("/cart")).status == 200
        # The ended cookie carries a readable CSRF token, but cannot end the new sessions.
        payload = URLSafeTimedSerializer("any").load_payload(stolen.rsplit(".", 2)[0].encode())
        async with (
            aiohttp.ClientSession() as thief,
            thief.post(
                f"{site.url}/signout",
                data={"csrf": payload["c"], "everywhere": "yes"},
                cookies={"hashcart_session": stolen},
                allow_redirects=False,
            ) as posted,
        ):
            assert posted.status == 303
        assert (await alice.get("/cart")).status == 200
    finally:
        await alice.close()
        await other_browser.close()


async def test_a_stolen_cookie_does_not_survive_a_password_change(site: RunningHashcart) -> None:
    alice = Visitor(site.url)
    try:
        created = await alice.sign_up("alice", "the right password")
        assert created.status == 303
        stolen = await _copied_cookie(site, alice)
        assert await _cart_with(site, stolen) == 200
        account_id = (await site.hashcart.accounts.find(name="alice"))[0]["id"]
        await site.hashcart.accounts.set_password(account_id, await hash_password("a new one!"))
        assert await _cart_with(site, stolen) == 303
        assert (await alice.sign_in("alice", "a new one!")).status == 303
        assert (await alice.get("/cart")).status == 200
    finally:
        await alice.close()


async def test_plain_sign_out_keeps_other_browsers_signed_in(site: RunningHashcart) -> None:
    phone, laptop = Visitor(site.url), Visitor(site.url)
    try:
        await phone.sign_up("alice", "the right password")
        assert (await laptop.sign_in("alice", "the right password")).status == 303
        await phone.get("/cart")
        await phone.post("/signout", {})
        assert (await phone.get("/cart")).status == 303
        assert (await laptop.get("/cart")).status == 200
    finally:
        await phone.close()
        await laptop.close()
