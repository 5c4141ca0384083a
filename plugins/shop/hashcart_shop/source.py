"""The product source of listed shops: a product is what its page says it is."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from hashcart import Product, ProductRef
from hashcart_shop.guard import Fetched, GuardedClient, Refused
from hashcart_shop.identity import page_url, variant_of
from hashcart_shop.schema_org import read_product
from hashcart_shop.settings import ShopList
from hashcart_shop.shopify import Variant, product_json_path, read_variant

log = logging.getLogger(__name__)

HTML = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"


class ShopSource:
    """Reads listed shops' product pages; one page (and for Shopify one `.js`) per product."""

    name = "shop"
    max_batch = 10

    def __init__(self, shops: ShopList) -> None:
        self._shops = shops
        self._client = GuardedClient(shops)

    def handles(self, ref: ProductRef) -> bool:
        return self._shops.for_store(ref.store) is not None

    async def fetch(self, refs: Sequence[ProductRef]) -> Mapping[str, Product | None]:
        found = await asyncio.gather(*(self.fetch_one(ref) for ref in refs))
        return {ref.product_id: product for ref, product in zip(refs, found, strict=True)}

    async def fetch_one(self, ref: ProductRef) -> Product | None:
        """The product, or None when the link is refused or the page holds no product; raises
        `hashcart.SourceUnavailable` when the shop is down, slow or throttling."""
        url = page_url(ref, self._shops)
        if url is None:
            return None
        try:
            page = await self._client.get(url, HTML)
        except Refused as exc:
            log.info("shop page %s refused: %s", url[:200], exc)
            return None
        found = await asyncio.to_thread(read_product, page.body, page.url)
        if found is None:
            return None
        wanted = variant_of(url)
        if wanted is None:
            # Without `variant=` the page's own price stands. (Choosing a default variant here
            # would change the product's address, and with it the cache's idea of the product.)
            return Product(
                ref, found.title, found.price_cents, found.currency, found.available,
                image_url=found.image_url, fetched_at=time.time(),
            )  # fmt: skip
        variant = await self._variant(page, wanted)
        if variant is None:
            return None  # a variant the shop does not have
        return Product(
            ref,
            variant.title or found.title,
            variant.price_cents,
            found.currency,
            variant.available,
            image_url=variant.image_url or found.image_url,
            fetched_at=time.time(),
        )

    async def _variant(self, page: Fetched, wanted: str) -> Variant | None:
        path = product_json_path(page.url)
        if path is None:
            return None
        parts = urlsplit(page.url)
        try:
            answer = await self._client.get(
                urlunsplit((parts.scheme, parts.netloc, path, "", "")), "application/json"
            )
        except Refused:
            return None
        return read_variant(answer.body, wanted)
