"""Open redirects after sign-in: `next` may only name a path of this site."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from yarl import URL

from hashcart.testing import RunningHashcart, running_hashcart
from tests.web.visitor import Visitor

#: Each of these is read by some browser as another site (tab and line breaks are dropped,
#: a backslash is a slash) or names one outright.
EVIL_NEXT = [
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\r\n/evil.example/",
    "/ /evil.example/",
    "/%09/evil.example/",
    "/%0a/evil.example/",
    "/%5Cevil.example",
    "/\\evil.example",
    "//evil.example/",
    "/%2F/evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/\x00/evil.example",
    "/\u2028/evil.example",
]


@pytest.fixture
async def site() -> AsyncIterator[RunningHashcart]:
    env = {"HASHCART_SESSION_SECRET": "test-session-secret-0123456789"}
    async with running_hashcart(env=env, with_amazon=False) as hc:
        yield hc


@pytest.fixture
async def alice(site: RunningHashcart) -> AsyncIterator[Visitor]:
    visitor = Visitor(site.url)
    await visitor.sign_up("alice", "the right password")
    await visitor.post("/signout", {})
    yield visitor
    await visitor.close()


@pytest.mark.parametrize("evil", EVIL_NEXT)
async def test_open_redirect_after_sign_in_through_a_crafted_next(
    alice: Visitor, evil: str
) -> None:
    page = await alice.sign_in("alice", "the right password", next_path=evil)
    assert (page.status, page.headers["Location"]) == (303, "/cart")


async def test_open_redirect_with_a_tab_in_the_sign_in_link(
    site: RunningHashcart, alice: Visitor
) -> None:
    """`/signin?next=/%09/evil.example/` arrives as `/<TAB>/evil.example/`: the form must not
    carry it on."""
    url = URL(site.url + "/signin").with_query(next="/\t/evil.example/")
    async with alice.session.get(url, allow_redirects=False) as resp:
        text = await resp.text()
    carried = re.findall(r'name="next" value="([^"]*)"', text)
    assert carried and set(carried) == {"/cart"}


@pytest.mark.parametrize("good", ["/cart", "/cart?done=linked", "/link/abc-DEF_123", "/cart#x"])
async def test_a_path_of_this_site_is_kept(alice: Visitor, good: str) -> None:
    page = await alice.sign_in("alice", "the right password", next_path=good)
    assert (page.status, page.headers["Location"]) == (303, good)
