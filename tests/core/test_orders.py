"""Orders are placed outside the confirming transaction (issue 14, item 3): recorded as pending,
placed by the order placer with the order id as idempotency key, retried through a shop outage,
settled and answered once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from hashcart import Order, OutcomeCode, hookimpl
from hashcart.orders import LEASE_SECONDS, OrderPlacer
from hashcart.testing import ADMIN_TOKEN, RunningHashcart, eventually
from hashcart.testing.standins.order_api import OrderApiStandin, ShopOrders
from tests.core.fakes import FakePlatform, command


@pytest.fixture
async def shop_api() -> AsyncIterator[OrderApiStandin]:
    async with OrderApiStandin() as standin:
        yield standin


@pytest.fixture
async def ordering(hc: RunningHashcart, shop_api: OrderApiStandin) -> RunningHashcart:
    hc.hashcart.plugins.register([ShopOrders(shop_api.url)])
    await hc.link("alice", "fake", "u1")
    return hc


async def _confirm(hc: RunningHashcart, prefix: str = "") -> str:
    submit = hc.hashcart.submit
    await submit(command(event_id=f"{prefix}a1", quantity=2))
    await submit(command("checkout", event_id=f"{prefix}c1", reference=None))
    pending = await submit(command("confirm", event_id=f"{prefix}c2", reference=None))
    assert pending.code is OutcomeCode.ORDER_PENDING and pending.silent
    return str(pending.params["order_id"])


def _answers(platform: FakePlatform, event_key: str = "fake:c2") -> list[OutcomeCode]:
    return [reply.outcome.code for reply in platform.sent if reply.event_key == event_key]


async def _orders(hc: RunningHashcart) -> list[dict[str, Any]]:
    account = (await hc.hashcart.accounts.find(name="alice"))[0]
    async with (
        aiohttp.ClientSession(
            base_url=hc.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as session,
        session.get(f"/api/v1/accounts/{account['id']}/orders") as response,
    ):
        assert response.status == 200
        found: list[dict[str, Any]] = (await response.json())["orders"]
        return found


async def test_confirm_records_a_pending_order_then_the_placer_places_it_once(
    ordering: RunningHashcart, shop_api: OrderApiStandin, fake_platform: FakePlatform
) -> None:
    order_id = await _confirm(ordering)
    assert await ordering.cart("fake", "u1") == []
    await eventually(lambda: _answers(fake_platform) == [OutcomeCode.ORDER_PLACED])
    assert shop_api.keys() == [order_id]
    assert shop_api.orders[order_id]["items"] == [{"sku": "shop:SKU1", "quantity": 2}]
    [order] = await _orders(ordering)
    assert order["status"] == "placed" and order["store_reference"] == "shop-1"
    assert (await ordering.events())[0]["outcome"] == "order_placed"
    [answer] = [r for r in fake_platform.sent if r.event_key == "fake:c2"]
    assert answer.content.text == "Order placed: 2 items for $25.00. Your cart is empty now."
    await asyncio.sleep(0.3)
    assert await ordering.hashcart.order_placer.drain_once() == 0
    assert _answers(fake_platform) == [OutcomeCode.ORDER_PLACED] and len(shop_api.calls) == 1


async def test_the_order_is_answered_in_the_account_language(
    ordering: RunningHashcart, fake_platform: FakePlatform
) -> None:
    chosen = await ordering.hashcart.submit(command("language", event_id="l1", argument="de"))
    assert chosen.code is OutcomeCode.LANGUAGE_SET
    await _confirm(ordering)
    await eventually(lambda: _answers(fake_platform) == [OutcomeCode.ORDER_PLACED])
    [answer] = [r for r in fake_platform.sent if r.event_key == "fake:c2"]
    assert answer.locale == "de" and "25,00" in answer.content.text


async def test_shop_outage_is_retried_with_the_same_idempotency_key(
    ordering: RunningHashcart, shop_api: OrderApiStandin, fake_platform: FakePlatform
) -> None:
    shop_api.fail_next(503, times=2)
    order_id = await _confirm(ordering)
    [order] = await _orders(ordering)
    assert order["status"] == "pending"
    await eventually(lambda: _answers(fake_platform) == [OutcomeCode.ORDER_PLACED], timeout=10)
    assert shop_api.keys() == [order_id] * 3 and list(shop_api.orders) == [order_id]
    [order] = await _orders(ordering)
    assert order["status"] == "placed"


async def test_refused_order_puts_its_lines_back_and_is_answered_once(
    ordering: RunningHashcart, shop_api: OrderApiStandin, fake_platform: FakePlatform
) -> None:
    shop_api.refuse_next()
    placer = ordering.hashcart.order_placer
    await placer.stop()  # hold the order pending while the cart changes
    await _confirm(ordering)
    await ordering.hashcart.submit(command(event_id="a2", quantity=1))
    placer.start()
    await eventually(lambda: _answers(fake_platform) == [OutcomeCode.ORDER_REFUSED])
    cart = await ordering.cart("fake", "u1")
    assert cart is not None and [(i["product_id"], i["quantity"]) for i in cart] == [
        ("shop:SKU1", 3)
    ]
    [order] = await _orders(ordering)
    assert order["status"] == "refused" and shop_api.orders == {}
    [answer] = [r for r in fake_platform.sent if r.event_key == "fake:c2"]
    assert "did not take your order" in answer.content.text


async def test_a_shop_down_past_the_give_up_age_refuses_the_order(
    ordering: RunningHashcart, shop_api: OrderApiStandin, fake_platform: FakePlatform
) -> None:
    placer = ordering.hashcart.order_placer
    shop_api.fail_next(503, times=1000)
    await _confirm(ordering)
    await eventually(lambda: len(shop_api.calls) >= 1)
    sender = ordering.hashcart.sender
    assert sender is not None
    placer.clock = sender.clock = lambda: time.time() + 31 * 60
    placer.wake()
    await eventually(lambda: _answers(fake_platform) == [OutcomeCode.ORDER_REFUSED], timeout=10)
    [order] = await _orders(ordering)
    assert order["status"] == "refused"
    assert [i["quantity"] for i in await ordering.cart("fake", "u1") or []] == [2]


async def test_a_slow_shop_does_not_hold_the_database(
    hc: RunningHashcart, fake_platform: FakePlatform
) -> None:
    """The shop's call used to run inside the confirming transaction, holding SQLite's one
    writer (and PostgreSQL's row locks): every other command waited for the shop."""
    release = asyncio.Event()

    class SlowShop:
        @hookimpl
        async def hashcart_place_order(self, order: Order) -> str:
            await release.wait()
            return "slow-1"

    hc.hashcart.plugins.register([SlowShop()])
    await hc.link("alice", "fake", "u1")
    await hc.link("bob", "fake", "u2")
    submit = hc.hashcart.submit
    await submit(command(event_id="a1"))
    await submit(command("checkout", event_id="c1", reference=None))
    confirming = asyncio.create_task(submit(command("confirm", event_id="c2", reference=None)))
    try:
        pending = await asyncio.wait_for(asyncio.shield(confirming), 3)
        assert pending.code is OutcomeCode.ORDER_PENDING
        other = await asyncio.wait_for(submit(command(event_id="b1", user_id="u2")), 3)
        assert other.code is OutcomeCode.ADDED
    finally:
        release.set()
        await confirming
    await eventually(lambda: _answers(fake_platform) == [OutcomeCode.ORDER_PLACED])


async def test_a_node_dying_during_the_shop_call_neither_orders_twice_nor_answers_twice(
    ordering: RunningHashcart, shop_api: OrderApiStandin, fake_platform: FakePlatform
) -> None:
    """One placer claims the order and stalls in the shop call (as a killed node would); once
    its lease has run out a second placer places it with the same key; when the first one wakes
    up late its result changes nothing."""
    hashcart = ordering.hashcart
    await hashcart.order_placer.stop()
    stalled = OrderPlacer(hashcart)
    release = asyncio.Event()
    real = ShopOrders(shop_api.url)

    class StallingShop:
        @hookimpl(tryfirst=True)
        async def hashcart_place_order(self, order: Order, hashcart: Any) -> str | None:
            reference = await real.hashcart_place_order(order, hashcart)
            if order.attempt == 1:
                await release.wait()  # the shop has the order; this "node" never says so
            return reference

    hashcart.plugins.register([StallingShop()])
    order_id = await _confirm(ordering)
    first = asyncio.create_task(stalled.drain_once())
    await eventually(lambda: len(shop_api.calls) == 1)
    survivor = OrderPlacer(hashcart)
    assert await survivor.drain_once() == 0  # leased: not taken while the first call runs
    assert hashcart.sender is not None
    survivor.clock = hashcart.sender.clock = lambda: time.time() + LEASE_SECONDS + 1
    assert await survivor.drain_once() == 1
    release.set()
    assert await first == 1
    await eventually(lambda: _answers(fake_platform) == [OutcomeCode.ORDER_PLACED])
    await asyncio.sleep(0.3)
    assert _answers(fake_platform) == [OutcomeCode.ORDER_PLACED]
    assert shop_api.keys() == [order_id, order_id] and list(shop_api.orders) == [order_id]
