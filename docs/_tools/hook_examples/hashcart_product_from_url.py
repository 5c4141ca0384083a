import re

from hashcart import ProductRef, hookimpl

_ITEM = re.compile(r"^https://shop\.example/items/(?P<sku>[A-Z0-9]{6})(?:[/?#]|$)")


@hookimpl
def hashcart_product_from_url(url: str) -> ProductRef | None:
    match = _ITEM.match(url)
    if match is None:
        return None  # not ours: another store may know it
    sku = match.group("sku")
    return ProductRef("shop", sku, url=f"https://shop.example/items/{sku}")
