"""Plugin loading and async hooks; the migrations match the tables on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hashcart import ProductRef, hookimpl
from hashcart.plugins import DEFAULT_PLUGINS, PluginManager
from hashcart.store import create_engine
from hashcart.store.schema import metadata


class AsyncStore:
    @hookimpl(tryfirst=True)
    async def hashcart_product_from_url(self, url: str) -> ProductRef | None:
        return ProductRef("async", "1") if url == "x" else None


class SyncStore:
    @hookimpl
    def hashcart_product_from_url(self, url: str) -> ProductRef | None:
        return ProductRef("sync", "1")


async def test_async_and_sync_hooks_are_awaited_in_order():
    manager = PluginManager()
    manager.register([SyncStore(), AsyncStore()])
    assert await manager.first("hashcart_product_from_url", url="x") == ProductRef("async", "1")
    assert await manager.first("hashcart_product_from_url", url="y") == ProductRef("sync", "1")
    assert len(await manager.collect("hashcart_product_from_url", url="x")) == 2


def test_entry_points_respect_the_allow_list():
    manager = PluginManager()
    manager.load_entry_points(allow={"amazon"})
    names = {info.name for info in manager.infos()}
    assert names == {*DEFAULT_PLUGINS, "amazon"}
    empty = PluginManager()
    empty.load_entry_points(allow=set())
    assert {info.name for info in empty.infos()} == set(DEFAULT_PLUGINS)


def test_every_builtin_plugin_loads_through_its_entry_point():
    manager = PluginManager()
    manager.load_entry_points()
    infos = {info.name: info for info in manager.infos()}
    assert manager.failed == {}
    for name in ("amazon", "twitter", "slack", "discord"):
        assert infos[name].distribution == "hashcart" and infos[name].hooks, name


async def test_migrations_match_the_tables(database_url: str):
    from hashcart.store import upgrade

    await upgrade(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
            tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    assert diff == []
    assert {t.name for t in metadata.sorted_tables} <= set(tables)
