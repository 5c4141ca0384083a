"""A person with a browser, minus the browser: a cookie jar, forms and their CSRF tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp

from hashcart import Action, CartCommand, ReplyTarget
from hashcart.testing import RunningHashcart

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Page:
    status: int
    text: str
    headers: Any
    url: str

    @property
    def csrf(self) -> str:
        found = _CSRF.search(self.text)
        assert found, "the page has no form with a CSRF token"
        return found.group(1)


class Visitor:
    """Follows no redirects by itself, so tests can check where each answer points."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url
        # unsafe=True: keep cookies from 127.0.0.1, as a browser does.
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=15),
            headers=headers,
        )
        self.csrf = ""

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str) -> Page:
        async with self.session.get(self.base_url + path, allow_redirects=False) as resp:
            page = Page(resp.status, await resp.text(), resp.headers, str(resp.url))
        if _CSRF.search(page.text):
            self.csrf = page.csrf
        return page

    async def post(self, path: str, data: dict[str, str], *, csrf: str | None = None) -> Page:
        """Post a form; the CSRF token is the one this visitor's last page carried."""
        if not self.csrf:
            await self.get("/signin")
        form = {"csrf": self.csrf if csrf is None else csrf, **data}
        if csrf == "":
            form.pop("csrf")
        async with self.session.post(
            self.base_url + path, data=form, allow_redirects=False
        ) as resp:
            page = Page(resp.status, await resp.text(), resp.headers, str(resp.url))
        if _CSRF.search(page.text):
            self.csrf = page.csrf
        return page

    async def sign_up(self, name: str, password: str = "correct horse battery") -> Page:
        await self.get("/signin")
        page = await self.post("/signup", {"name": name, "password": password, "next": "/cart"})
        assert page.status == 303, page.text
        return page

    async def sign_in(self, name: str, password: str, next_path: str = "/cart") -> Page:
        await self.get("/signin")
        return await self.post("/signin", {"name": name, "password": password, "next": next_path})


def add_command(
    user_id: str, event_id: str, url: str, *, platform: str = "fake", user_name: str = "alice"
) -> CartCommand:
    return CartCommand(
        platform=platform,
        user_id=user_id,
        action=Action.ADD,
        event_id=event_id,
        # A link token goes only into a private answer (a DM, an ephemeral message).
        reply_to=ReplyTarget(platform, user=user_id, channel="c1", private=True),
        reference=url,
        user_name=user_name,
    )


async def link_token(hc: RunningHashcart, user_id: str, event_id: str, url: str) -> str:
    """Make an unlinked identity add something; returns the token its reply carries."""
    outcome = await hc.hashcart.submit(add_command(user_id, event_id, url))
    link_url = str(outcome.params["link_url"])
    assert link_url.startswith(f"{hc.url}/link/")
    return link_url.rsplit("/", 1)[1]
