"""The cart page with products from a live shop: image, store, a price older than the TTL marked,
one total per currency, one "Continue at <store>" button per store (real HTTP, signed in)."""

from __future__ import annotations

import time

import sqlalchemy as sa

import hashcart_shop
from hashcart.store.schema import cart_items
from hashcart.testing import running_hashcart
from hashcart_shop.testing import ShopStandin
from tests.core.fakes import FakePlatform, FakePlatformPlugin, ShopPlugin, command
from tests.web.visitor import Visitor


async def test_the_cart_page_shows_images_stores_stale_prices_totals_and_hand_offs(
    database_url: str,
) -> None:
    async with ShopStandin() as shop:
        shop.add(
            "/products/hoodie", "Hoodie", 4500, currency="EUR", variant_id=111,
            image="https://img.test/hoodie.png",
        )  # fmt: skip
        env = {"HASHCART_SESSION_SECRET": "s" * 32, "HASHCART_SHOP_HOSTS": shop.url}
        plugins = [hashcart_shop, ShopPlugin(), FakePlatformPlugin(FakePlatform())]
        async with running_hashcart(
            plugins=plugins, env=env, database_url=database_url, with_amazon=False
        ) as hc:
            await hc.add_product("shop:SKU1", "Blue mug", 1250)  # the operator's, in USD
            visitor = Visitor(hc.url)
            try:
                await visitor.sign_up("alice")
                await hc.link("alice", "fake", "u1")
                hoodie = f"{shop.url}/products/hoodie?variant=111"
                await hc.hashcart.submit(command(reference=hoodie, quantity=2))
                await hc.hashcart.submit(
                    command(event_id="e2", reference="https://shop.test/p/SKU1")
                )

                page = (await visitor.get("/cart")).text
                assert '<img class="thumb" src="https://img.test/hoodie.png"' in page
                store = f"127.0.0.1_{shop.url.rsplit(':', 1)[1]}"
                assert f'<span class="store">{store}</span>' in page
                assert '<span class="store">shop</span>' in page
                assert '<strong class="total">€90.00</strong>' in page
                assert '<strong class="total">$12.50</strong>' in page
                assert f'href="{shop.url}/cart/111:2"' in page
                assert "Continue at 127.0.0.1" in page
                assert "may have changed" not in page

                async with hc.hashcart.engine.begin() as conn:
                    await conn.execute(
                        sa.update(cart_items)
                        .where(cart_items.c.priced_at.is_not(None))
                        .values(priced_at=time.time() - 2 * hc.hashcart.settings.product_ttl)
                    )
                page = (await visitor.get("/cart")).text
                assert page.count("may have changed") == 1  # the shop's price, not the operator's
            finally:
                await visitor.close()
