"""A node killed during the shop call (issue 14, item 3): another node finishes the order. The shop
holds exactly one order (the order id is its idempotency key) and the user gets one answer."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import sqlalchemy as sa

from hashcart.store import create_engine
from hashcart.store.schema import orders
from hashcart.testing import eventually
from hashcart.testing.cluster import cluster, plugin_entry_points
from hashcart.testing.standins.order_api import OrderApiStandin
from hashcart_twitter import testing as x


async def _orders(database_url: str) -> list[tuple[str, str]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(orders.c.id, orders.c.status))
            return [(row.id, row.status) for row in rows]
    finally:
        await engine.dispose()


async def test_node_killed_during_the_shop_call_orders_once_and_answers_once(
    shared_postgres: str, tmp_path: Path
) -> None:
    report = tmp_path / "faults.txt"
    plugins = plugin_entry_points(
        tmp_path / "plugins", {"test_shop": "hashcart.testing.standins.order_api:plugin"}
    )
    async with (
        OrderApiStandin() as shop,
        cluster(
            shared_postgres,
            nodes=0,
            users=1,
            load_plugins="amazon,twitter,test_shop",
            extra_env=shop.env(),
            plugin_path=plugins,
        ) as running,
    ):
        doomed = await running.start_node(
            {"HASHCART_FAULTS": "orders.shop_call=60", "HASHCART_FAULTS_REPORT": str(report)}
        )
        shopper = running.users[0]
        [(add, _)] = running.replies(1, random.Random(1), with_link=True)
        await running.deliver(add, 0)
        await eventually(lambda: running.standin.replies_to(add), timeout=10)
        await running.deliver(x.tweet("@hashcart #checkout", user=shopper), 0)
        await eventually(lambda: len(running.standin.dms_to(shopper)) == 1, timeout=10)
        await running.deliver(x.tweet("@hashcart #confirm", user=shopper), 0)

        # The shop has taken the order; the node sits in the fault point, then dies.
        await eventually(lambda: report.exists() and "orders.shop_call" in report.read_text(), 20)
        assert len(shop.orders) == 1
        doomed.kill()
        [(order_id, status)] = await _orders(shared_postgres)
        assert status == "pending"

        await running.start_node()

        async def settled() -> bool:
            return await _orders(shared_postgres) == [(order_id, "placed")]

        await eventually(settled, timeout=60, interval=0.5)
        await eventually(lambda: running.standin.dms_to(shopper)[1:], timeout=20)
        await asyncio.sleep(2)  # room for a second answer, if one were coming
        answers = running.standin.dms_to(shopper)[1:]
        assert len(answers) == 1 and "Order placed" in answers[0].text
        assert shop.keys() == [order_id, order_id] and list(shop.orders) == [order_id]
