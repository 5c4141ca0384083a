"""Live updates of the cart page: capped per account and per node, pushed on change instead of
polling the database. Real HTTP, on SQLite and PostgreSQL (and across two nodes on PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from hashcart.testing import RunningHashcart, running_hashcart
from tests.core.fakes import FakePlatform, FakePlatformPlugin
from tests.web.test_pages import KINDLE, linked
from tests.web.visitor import Visitor, add_command

ENV = {
    "HASHCART_SESSION_SECRET": "test-session-secret-0123456789",
    "HASHCART_LIVE_STREAMS_PER_ACCOUNT": "2",
    "HASHCART_LIVE_STREAMS_PER_NODE": "3",
}


@contextlib.asynccontextmanager
async def node(database_url: str) -> AsyncIterator[RunningHashcart]:
    plugin = FakePlatformPlugin(FakePlatform())
    async with running_hashcart(plugins=[plugin], env=ENV, database_url=database_url) as hc:
        await hc.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        await hc.add_product("amazon:B08N5WRWNW", title="Kindle", price_cents=9999)
        yield hc


@pytest.fixture
async def site(database_url: str) -> AsyncIterator[RunningHashcart]:
    async with node(database_url) as hc:
        yield hc


@pytest.fixture
async def alice(site: RunningHashcart) -> AsyncIterator[Visitor]:
    visitor = Visitor(site.url)
    await linked(site, visitor, "alice", "u-alice")
    yield visitor
    await visitor.close()


@contextlib.asynccontextmanager
async def stream(visitor: Visitor, url: str) -> AsyncIterator[aiohttp.ClientResponse]:
    async with visitor.session.get(f"{url}/cart/events") as response:
        if response.status == 200:
            await asyncio.wait_for(response.content.readuntil(b"data: connected\n\n"), 5)
        yield response


async def next_change(response: aiohttp.ClientResponse, within: float) -> bool:
    """Whether the stream says "changed" within `within` seconds."""
    try:
        async with asyncio.timeout(within):
            while True:
                line = await response.content.readline()
                if line == b"event: changed\n":
                    return True
    except TimeoutError:
        return False


async def test_unlimited_live_streams_of_one_account_are_refused(
    site: RunningHashcart, alice: Visitor
) -> None:
    async with stream(alice, site.url) as first, stream(alice, site.url) as second:
        assert first.status == second.status == 200
        async with stream(alice, site.url) as third:
            assert third.status == 429
            assert int(third.headers["Retry-After"]) > 0
            assert (await third.json())["error"]["code"] == "too_many_streams"
    # Closed streams give their places back within a second or so.
    await asyncio.sleep(1.5)
    async with stream(alice, site.url) as again:
        assert again.status == 200


async def test_unlimited_live_streams_on_one_node_are_refused(
    site: RunningHashcart, alice: Visitor
) -> None:
    bob = Visitor(site.url)
    await linked(site, bob, "bob", "u-bob")
    try:
        async with (
            stream(alice, site.url) as a1,
            stream(alice, site.url) as a2,
            stream(bob, site.url) as b1,
        ):
            assert [a1.status, a2.status, b1.status] == [200, 200, 200]
            async with stream(bob, site.url) as b2:
                assert b2.status == 429
    finally:
        await bob.close()


async def test_an_idle_live_stream_does_not_poll_the_database(
    site: RunningHashcart, alice: Visitor
) -> None:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = site.hashcart.engine.sync_engine
    async with stream(alice, site.url) as idle:
        assert idle.status == 200
        sa.event.listen(engine, "before_cursor_execute", seen)
        try:
            await asyncio.sleep(2.5)
        finally:
            sa.event.remove(engine, "before_cursor_execute", seen)
    assert [s for s in statements if "cart_items" in s or "identities" in s] == []


async def test_a_change_is_pushed_to_the_stream_at_once(
    site: RunningHashcart, alice: Visitor
) -> None:
    async with stream(alice, site.url) as live:
        assert not await next_change(live, 0.3)
        await site.hashcart.submit(add_command("u-alice", "e-live-1", KINDLE))
        assert await next_change(live, 1.0)


async def test_a_change_on_another_node_is_pushed_to_the_stream(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("nodes share changes through PostgreSQL's LISTEN/NOTIFY")
    async with node(database_url) as first, node(database_url) as second:
        alice = Visitor(first.url)
        try:
            await linked(first, alice, "alice", "u-alice")
            await asyncio.wait_for(second.hashcart.cart_changes.listening.wait(), 5)
            await asyncio.wait_for(first.hashcart.cart_changes.listening.wait(), 5)
            async with stream(alice, first.url) as live:
                assert not await next_change(live, 0.3)
                await second.hashcart.submit(add_command("u-alice", "e-live-2", KINDLE))
                assert await next_change(live, 2.0)
        finally:
            await alice.close()


async def test_a_stream_of_a_stolen_cookie_ends_with_sign_out_everywhere(
    site: RunningHashcart, alice: Visitor
) -> None:
    async with stream(alice, site.url) as live:
        other_tab = Visitor(site.url)
        other_tab.session.cookie_jar.update_cookies(
            {c.key: c.value for c in alice.session.cookie_jar}
        )
        try:
            await other_tab.get("/cart")
            await other_tab.post("/signout", {"everywhere": "yes"})
        finally:
            await other_tab.close()
        rest = await asyncio.wait_for(live.content.read(), 3)
        assert b"event: changed" not in rest


async def test_a_lost_listening_connection_comes_back_and_wakes_the_streams(
    database_url: str,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    async with node(database_url) as first, node(database_url) as second:
        alice = Visitor(first.url)
        try:
            await linked(first, alice, "alice", "u-alice")
            changes = first.hashcart.cart_changes
            await asyncio.wait_for(changes.listening.wait(), 5)
            async with stream(alice, first.url) as live:
                async with second.hashcart.engine.begin() as conn:
                    ended = await conn.scalar(
                        sa.text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                        )
                    )
                assert ended == 2  # both nodes' listeners
                # Whatever happened meanwhile may have been missed: every stream is woken.
                assert await next_change(live, 5.0)
                await asyncio.wait_for(changes.listening.wait(), 5)
                await asyncio.wait_for(second.hashcart.cart_changes.listening.wait(), 5)
                await second.hashcart.submit(add_command("u-alice", "e-live-3", KINDLE))
                assert await next_change(live, 2.0)
        finally:
            await alice.close()
