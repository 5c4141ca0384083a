from collections.abc import Mapping, Sequence

import aiohttp

from hashcart import Host, Product, ProductRef, ProductSource, SourceUnavailable, hookimpl


class ShopApi:
    """Looks products of `shop.example` up in its JSON API, many at a time."""

    name = "shop-api"
    max_batch = 20

    def __init__(self, timeout: aiohttp.ClientTimeout) -> None:
        self._timeout = timeout

    def handles(self, ref: ProductRef) -> bool:
        return ref.store == "shop"

    async def fetch(self, refs: Sequence[ProductRef]) -> Mapping[str, Product | None]:
        ids = ",".join(ref.sku for ref in refs)
        async with (
            aiohttp.ClientSession(timeout=self._timeout) as session,
            session.get(f"https://shop.example/api/items?ids={ids}") as response,
        ):
            if response.status == 429 or response.status >= 500:
                raise SourceUnavailable(f"shop API answered {response.status}")
            items = {item["id"]: item for item in await response.json()}
        return {
            ref.product_id: Product(ref, items[ref.sku]["title"], items[ref.sku]["price_cents"])
            if ref.sku in items
            else None
            for ref in refs
        }


@hookimpl
def hashcart_product_sources(hashcart: Host) -> ProductSource | None:
    return ShopApi(hashcart.http_timeout)
