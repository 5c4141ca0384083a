"""Command rate counters name a person: pruned once over, erased when the person is forgotten."""

from __future__ import annotations

import time

import sqlalchemy as sa

from hashcart import OutcomeCode
from hashcart.retention import prune
from hashcart.store.schema import rate_counters
from hashcart.testing import running_hashcart
from tests.core.fakes import FakePlatform, FakePlatformPlugin, ShopPlugin, command


async def _keys(hc_engine: sa.ext.asyncio.AsyncEngine) -> set[str]:
    async with hc_engine.connect() as conn:
        return set((await conn.execute(sa.select(rate_counters.c.key))).scalars())


async def test_rate_counters_survive_forget_and_retention_no_more(database_url: str):
    """The leak: who sent commands when stayed in rate_counters for ever, even after `forget`."""
    platform = FakePlatform()
    async with running_hashcart(
        plugins=[ShopPlugin(), FakePlatformPlugin(platform)],
        database_url=database_url,
        env={"HASHCART_RATE_LIMIT_PER_MINUTE": "50", "HASHCART_RATE_LIMIT_PER_HOUR": "500"},
        with_amazon=False,
    ) as hc:
        await hc.add_product("shop:SKU1", "Blue mug", 1250)
        account = await hc.link("alice", "fake", "u1%_")
        await hc.link("bob", "fake", "u2")
        for n, user in enumerate(["u1%_", "u1%_", "u2"]):
            outcome = await hc.hashcart.submit(command(event_id=f"a{n}", user_id=user))
            assert outcome.ok, outcome
        engine = hc.hashcart.engine
        before = await _keys(engine)
        assert "identity:fake:u1%_:60" in before and f"account:{account}:3600" in before

        ask = command("forget", event_id="f1", user_id="u1%_", reference=None)
        assert (await hc.hashcart.submit(ask)).code is OutcomeCode.FORGET_ASKED
        confirm = command(
            "forget", event_id="f2", user_id="u1%_", reference=None, argument="confirm"
        )
        assert (await hc.hashcart.submit(confirm)).code is OutcomeCode.FORGOTTEN

        after = await _keys(engine)
        assert not [key for key in after if "u1%_" in key or account in key], after
        assert "identity:fake:u2:60" in after  # someone else's stay

        # Retention: a counter whose window ended long ago goes; a current one stays.
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(rate_counters),
                [{"key": "identity:fake:old:60", "window_start": 0, "count": 3}],
            )
        counts = await prune(engine, retention_days=30, now=time.time())
        assert counts["rate_counters"] >= 1
        remaining = await _keys(engine)
        assert "identity:fake:old:60" not in remaining and "identity:fake:u2:60" in remaining
