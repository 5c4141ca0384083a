from typing import Any

from hashcart import ProductRef, hookimpl

# A store's own table from GTIN-13 to its item ids; a real plugin asks the shop's API.
SKUS = {"4006381333931": "ABC123"}


@hookimpl
def hashcart_product_from_barcode(barcode: Any) -> ProductRef | None:
    # `barcode` is a checked `Barcode`: `.gtin13` always, `.isbn10` for books.
    sku = SKUS.get(barcode.gtin13)
    return ProductRef("shop", sku) if sku else None
