from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hashcart.testing import ADMIN_TOKEN, RunningHashcart, running_hashcart
from tests.core.fakes import FakePlatform, FakePlatformPlugin, ShopPlugin


@pytest.fixture
def shop() -> ShopPlugin:
    return ShopPlugin()


@pytest.fixture
def fake_platform() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
async def hc(
    database_url: str, shop: ShopPlugin, fake_platform: FakePlatform
) -> AsyncIterator[RunningHashcart]:
    """hashcart with the test shop and the fake platform, once on SQLite and once on PostgreSQL."""
    async with running_hashcart(
        plugins=[shop, FakePlatformPlugin(fake_platform)],
        database_url=database_url,
        env={"HASHCART_ADMIN_TOKEN": ADMIN_TOKEN},
        with_amazon=False,
    ) as running:
        await running.add_product("shop:SKU1", "Blue mug", 1250)
        await running.add_product("shop:SKU2", "Red kettle", 3999)
        await running.add_product("shop:GONE", "Old lamp", 999, available=False)
        yield running
