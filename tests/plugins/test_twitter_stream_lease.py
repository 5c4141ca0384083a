"""The filtered stream runs on one node at a time; another takes over when that node goes away."""

from __future__ import annotations

import asyncio

import hashcart_twitter
from hashcart.testing import eventually, running_hashcart
from hashcart_twitter.testing import XStandin, tweet, user


async def test_one_stream_for_two_nodes_and_a_takeover(tmp_path):
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    alice = user("alice")
    async with XStandin(keepalive_seconds=0.1, max_stream_connections=1) as x:
        env = x.env(
            mode="stream",
            stream_backoff_scale="0.01",
            stream_stall_seconds="1",
            stream_lease_seconds="1",
        )
        async with running_hashcart(
            plugins=[hashcart_twitter], env=env, database_url=database
        ) as first:
            await first.link("alice", "twitter", alice["id_str"])
            await first.add_product("amazon:B08N5WRWNW", "Kindle", 9999)
            await x.wait_for_stream()
            async with running_hashcart(
                plugins=[hashcart_twitter], env=env, database_url=database
            ) as second:
                await eventually(lambda: x.stream_connections == 1)
                await asyncio.sleep(1.5)  # a few lease renewals later: still one connection
                assert x.stream_connections == 1
                await first.hashcart.stop()  # the first node goes away
                await eventually(lambda: x.stream_connections == 2, timeout=5)
                reply = tweet(
                    "#amazoncart", user=alice, urls=["https://www.amazon.com/dp/B08N5WRWNW"]
                )
                await x.wait_for_stream()
                assert await x.stream_tweet(reply) == 1
                await eventually(lambda: x.replies_to(reply))
                cart = await second.cart("twitter", alice["id_str"])
                assert cart is not None and cart[0]["product_id"] == "amazon:B08N5WRWNW"
