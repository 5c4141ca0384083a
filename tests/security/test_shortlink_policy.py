"""A stranger's short link costs an outbound request only when the policy lets the command in,
and a dead or slow short link is asked once in a while, not on every message."""

from __future__ import annotations

import functools
import secrets
from collections.abc import AsyncIterator

import pytest
from aiohttp import test_utils, web

import hashcart_amazon
from hashcart import OutcomeCode
from hashcart.testing import running_hashcart
from hashcart_amazon.shortlinks import TTLCache, expand_short_link
from tests.core.fakes import FakePlatform, FakePlatformPlugin, command

PRODUCT = "https://www.amazon.de/Some-Title/dp/B08N5WRWNW"


class Shortener:
    """Counts what it is asked; every path redirects to PRODUCT except /dead."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.origin = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.asked.append(request.path)
        if request.path.startswith("/dead"):
            return web.Response(status=404)
        return web.Response(status=301, headers={"Location": PRODUCT})


@pytest.fixture
async def shortener(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Shortener]:
    fake = Shortener()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = test_utils.TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.origin = str(server.make_url("")).rstrip("/")
    monkeypatch.setattr(
        hashcart_amazon,
        "expand_short_link",
        functools.partial(expand_short_link, resolve_host=lambda host: fake.origin),
    )
    try:
        yield fake
    finally:
        await server.close()


async def test_rate_limited_or_denied_short_links_are_not_expanded(
    database_url: str, shortener: Shortener
):
    """The attack: short-link expansion ran before rate limits and deny lists, so a flood of
    refused commands still made hashcart contact the shortener for each one."""
    platform = FakePlatform()
    async with running_hashcart(
        plugins=[FakePlatformPlugin(platform)],
        database_url=database_url,
        env={"HASHCART_RATE_LIMIT_PER_MINUTE": "1", "HASHCART_RATE_LIMIT_PER_HOUR": "100"},
    ) as hc:
        await hc.add_product("amazon:B08N5WRWNW", "Kindle", 9999)
        await hc.link("alice", "fake", "u1")
        first = await hc.hashcart.submit(command(event_id="e1", reference=PRODUCT))
        assert first.code is OutcomeCode.ADDED

        short = f"https://a.co/d/{secrets.token_hex(5)}"
        limited = await hc.hashcart.submit(command(event_id="e2", reference=short))
        assert limited.code is OutcomeCode.RATE_LIMITED
        bot = await hc.hashcart.submit(
            command(event_id="e3", user_id="bot1", reference=short, is_bot=True)
        )
        assert bot.code is OutcomeCode.DENIED
        await hc.hashcart.policy_rules.add("deny", "identity", "fake:mallory")
        denied = await hc.hashcart.submit(
            command(event_id="e4", user_id="mallory", reference=short)
        )
        assert denied.code is OutcomeCode.DENIED
        assert shortener.asked == []

        # Someone in good standing still gets the short link expanded.
        fine = await hc.hashcart.submit(command(event_id="e5", user_id="u2", reference=short))
        assert fine.code is OutcomeCode.LINK_NEEDED and shortener.asked


async def test_repeated_dead_short_link_is_not_asked_again(shortener: Shortener):
    """The attack: failures were not cached, so repeating a dead link cost a lookup each time."""
    cache = TTLCache()
    dead = f"https://amzn.to/dead{secrets.token_hex(4)}"
    for _ in range(5):
        assert await hashcart_amazon.expand_short_link(dead, cache=cache) is None
    assert len(shortener.asked) == 2  # one expansion: HEAD, then GET
