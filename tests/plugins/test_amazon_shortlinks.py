"""Short-link expansion against a real local redirector standing in for amzn.to, a.co, …"""

from __future__ import annotations

import asyncio
import functools
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import test_utils, web

import hashcart_amazon
from hashcart import ProductRef
from hashcart.testing import running_hashcart
from hashcart_amazon import hashcart_product_from_url
from hashcart_amazon.shortlinks import TTLCache, expand_short_link

PRODUCT = "https://www.amazon.de/Some-Title/dp/B08N5WRWNW?tag=hashcart-21&th=1"


@dataclass
class Redirector:
    """A fake shortener: path -> (status, Location). Every short host is routed to it."""

    origin: str = ""
    routes: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    refuse_head: bool = False
    hang: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def resolve_host(self, host: str) -> str:
        return self.origin

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        if self.hang:
            await self.release.wait()
        if self.refuse_head and request.method == "HEAD":
            return web.Response(status=405)
        status, location = self.routes.get(request.path_qs, (404, None))
        headers = {"Location": location} if location is not None else {}
        return web.Response(status=status, headers=headers, text="redirecting")


@pytest.fixture
async def redirector() -> AsyncIterator[Redirector]:
    fake = Redirector()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = test_utils.TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.origin = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        fake.release.set()
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def expand(
    fake: Redirector,
    session: aiohttp.ClientSession | None,
    url: str,
    *,
    cache: TTLCache | None = None,
    total_seconds: float = 3.0,
) -> str | None:
    return await expand_short_link(
        url, session, resolve_host=fake.resolve_host, cache=cache, total_seconds=total_seconds
    )


async def test_a_redirect_chain_ends_at_the_first_amazon_url(
    redirector: Redirector, session: aiohttp.ClientSession
) -> None:
    redirector.routes = {
        "/3xYzAbC": (301, "https://a.co/d/hop2"),
        "/d/hop2": (302, "/d/hop3?x=1"),  # relative: stays on a.co
        "/d/hop3?x=1": (307, PRODUCT),
    }
    final = await expand(redirector, session, "https://amzn.to/3xYzAbC")

    assert final == PRODUCT
    assert [path for _, path in redirector.requests] == ["/3xYzAbC", "/d/hop2", "/d/hop3?x=1"]
    ref = hashcart_product_from_url(final)
    assert ref is not None and ref.product_id == "amazon:B08N5WRWNW"


async def test_get_is_tried_when_head_is_not_redirected(
    redirector: Redirector, session: aiohttp.ClientSession
) -> None:
    redirector.refuse_head = True
    redirector.routes = {"/d/04jZBreV": (301, PRODUCT)}

    assert await expand(redirector, session, "https://a.co/d/04jZBreV") == PRODUCT
    assert redirector.requests == [("HEAD", "/d/04jZBreV"), ("GET", "/d/04jZBreV")]


async def test_without_a_session_one_is_opened_for_the_call(redirector: Redirector) -> None:
    redirector.routes = {"/d/j4Fq9jM": (301, "https://www.amazon.co.jp/dp/B004W6ISOI")}

    final = await expand(redirector, None, "https://amzn.asia/d/j4Fq9jM")

    assert final == "https://www.amazon.co.jp/dp/B004W6ISOI"


async def test_a_redirect_loop_gives_none(
    redirector: Redirector, session: aiohttp.ClientSession
) -> None:
    redirector.routes = {
        "/a": (301, "https://amzn.to/b"),
        "/b": (301, "https://amzn.to/a"),
    }
    assert await expand(redirector, session, "https://amzn.to/a") is None
    assert len(redirector.requests) == 2


async def test_at_most_five_hops_are_followed(
    redirector: Redirector, session: aiohttp.ClientSession
) -> None:
    redirector.routes = {f"/{n}": (301, f"https://amzn.to/{n + 1}") for n in range(10)}
    redirector.routes["/4"] = (301, PRODUCT)
    assert await expand(redirector, session, "https://amzn.to/0") == PRODUCT  # five requests

    redirector.requests.clear()
    redirector.routes["/4"] = (301, "https://amzn.to/5")
    redirector.routes["/5"] = (301, PRODUCT)
    assert await expand(redirector, session, "https://amzn.to/0") is None  # would need six
    assert len(redirector.requests) == 5


async def test_a_slow_shortener_times_out(
    redirector: Redirector, session: aiohttp.ClientSession
) -> None:
    redirector.hang = True
    redirector.routes = {"/slow": (301, PRODUCT)}

    assert await expand(redirector, session, "https://amzn.to/slow", total_seconds=0.2) is None
    assert redirector.requests == [("HEAD", "/slow")]


@pytest.mark.parametrize(
    "location",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://www.amazon.com/dp/B08N5WRWNW",
        "file:///etc/passwd",
        "https://www.amazon.com:8443/dp/B08N5WRWNW",
        "http://127.0.0.1/dp/B08N5WRWNW",
        "https://amazon.com@evil.example/dp/B08N5WRWNW",
    ],
)
async def test_unsafe_locations_give_none(
    redirector: Redirector, session: aiohttp.ClientSession, location: str
) -> None:
    redirector.routes = {"/x": (302, location)}
    assert await expand(redirector, session, "https://amzn.to/x") is None


async def test_a_chain_that_leaves_amazon_is_not_followed(
    redirector: Redirector, session: aiohttp.ClientSession
) -> None:
    redirector.routes = {
        "/x": (301, "https://tracker.example/next"),
        "/next": (301, PRODUCT),
    }
    assert await expand(redirector, session, "https://amzn.to/x") is None
    assert [path for _, path in redirector.requests] == ["/x"]


@pytest.mark.parametrize("status", [200, 404, 500])
async def test_an_answer_without_redirect_gives_none(
    redirector: Redirector, session: aiohttp.ClientSession, status: int
) -> None:
    redirector.routes = {"/x": (status, None)}
    assert await expand(redirector, session, "https://amzn.to/x") is None


async def test_a_redirect_without_location_gives_none(
    redirector: Redirector, session: aiohttp.ClientSession
) -> None:
    redirector.routes = {"/x": (301, None)}
    assert await expand(redirector, session, "https://amzn.to/x") is None


@pytest.mark.parametrize(
    "url",
    [
        "https://www.amazon.com/dp/B08N5WRWNW",
        "https://bit.ly/3xYzAbC",
        "https://amzn.to.evil.example/3xYzAbC",
        "https://user@amzn.to/3xYzAbC",
        "https://amzn.to:8080/3xYzAbC",
        "javascript:alert(1)",
        "",
    ],
)
async def test_only_shortener_hosts_are_contacted(
    redirector: Redirector, session: aiohttp.ClientSession, url: str
) -> None:
    assert await expand(redirector, session, url) is None
    assert redirector.requests == []


async def test_an_unreachable_shortener_gives_none(session: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago refuses connections
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    final = await expand_short_link(
        "https://amzn.to/x", session, resolve_host=lambda host: f"http://127.0.0.1:{closed_port}"
    )
    assert final is None


async def test_expansions_are_cached(
    redirector: Redirector, session: aiohttp.ClientSession
) -> None:
    cache = TTLCache()
    redirector.routes = {"/abc": (301, PRODUCT)}

    assert await expand(redirector, session, "https://amzn.to/abc", cache=cache) == PRODUCT
    assert await expand(redirector, session, "https://amzn.to/abc", cache=cache) == PRODUCT
    assert len(redirector.requests) == 1

    redirector.routes = {"/gone": (404, None)}
    assert await expand(redirector, session, "https://amzn.to/gone", cache=cache) is None
    asked = len(redirector.requests)
    assert await expand(redirector, session, "https://amzn.to/gone", cache=cache) is None
    assert len(redirector.requests) == asked  # a failure is remembered for a while too


def test_the_cache_expires_and_stays_bounded() -> None:
    now = [0.0]
    cache = TTLCache(maxsize=2, ttl=60.0, clock=lambda: now[0])
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recently used
    cache.put("c", "C")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")

    now[0] = 60.0
    assert cache.get("a") is None
    assert len(cache) == 1


# ---------------------------------------------------------------------------------------------
# Through the core: hashcart.resolve_reference walks the amazon plugin's two hooks
# ---------------------------------------------------------------------------------------------


async def test_the_core_resolves_links_and_short_links_through_the_plugin(
    redirector: Redirector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hook expands with the process-wide cache and no host override; route it to the fake.
    monkeypatch.setattr(
        hashcart_amazon,
        "expand_short_link",
        functools.partial(expand_short_link, resolve_host=redirector.resolve_host),
    )
    code = f"e2e{secrets.token_hex(4)}"  # fresh, so the process-wide cache cannot answer
    redirector.routes = {f"/d/{code}": (301, PRODUCT)}
    expected = ProductRef("amazon", "B08N5WRWNW", "https://www.amazon.de/dp/B08N5WRWNW")

    async with running_hashcart() as hc:
        resolve = hc.hashcart.resolve_reference
        assert await resolve(PRODUCT) == expected
        assert await resolve(f"https://a.co/d/{code}") == expected
        assert await resolve(f"https://a.co/d/{code}") == expected  # from the cache
        assert await resolve("https://a.co/d/unknown") is None
        assert await resolve("https://amazon.com@evil.example/dp/B08N5WRWNW") is None

    assert [path for _, path in redirector.requests] == [f"/d/{code}", "/d/unknown", "/d/unknown"]
