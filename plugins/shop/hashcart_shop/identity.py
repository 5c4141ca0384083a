"""A product page link of a listed shop → `ProductRef(<store>, <path>)`, the same for every way of
writing it.

People paste links full of campaign and click-tracking parameters; two links to one product must
land on one cart line, so those parameters are dropped, the rest are kept in a fixed order (a shop
may name its product by `?id=`), and Shopify's `/collections/<c>/products/<handle>` becomes
`/products/<handle>`. `variant=` is kept: on Shopify it selects the variant that goes to the cart.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from hashcart import ProductRef
from hashcart_shop.settings import ShopList

#: What a product id may take (the cart's column); a longer identity is hashed.
MAX_PRODUCT_ID = 128
MAX_URL = 2048

_TRACKING = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "twclid",
        "ttclid", "li_fat_id", "mc_cid", "mc_eid", "_ga", "_gl", "_ke", "srsltid", "ref", "ref_",
        "referrer", "source", "spm", "trk", "affiliate", "aff", "affid", "campaign", "cmpid",
        # Shopify's search and recommendation trails
        "_pos", "_sid", "_ss", "_psq", "_fid", "_v", "pr_prod_strat", "pr_rec_id", "pr_rec_pid",
        "pr_ref_pid", "pr_seq",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "oly_")
_COLLECTION_PRODUCT = re.compile(r"^/collections/[^/]+(/products/[^/]+)$")
_VARIANT = re.compile(r"^[0-9]{1,20}$")


def is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING or lowered.startswith(_TRACKING_PREFIXES)


def product_ref(url: str, shops: ShopList) -> ProductRef | None:
    """The product a link of a listed shop names, or None (not listed, not a page link)."""
    if not url or len(url) > MAX_URL or any(ch.isspace() for ch in url):
        return None
    shop = shops.for_url(url)
    if shop is None:
        return None
    parts = urlsplit(url)
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    if len(path) > 1:
        path = path.rstrip("/")
    path = _COLLECTION_PRODUCT.sub(r"\1", path)
    kept = sorted(
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=False)
        if not is_tracking(name)
    )
    if any(name == "variant" and not _VARIANT.match(value) for name, value in kept):
        return None
    query = urlencode(kept)
    sku = path + (f"?{query}" if query else "")
    if len(shop.store) + 1 + len(sku) > MAX_PRODUCT_ID:
        sku = "~" + hashlib.sha256(sku.encode()).hexdigest()[:40]
    canonical = urlunsplit((shop.scheme, shop.origin.split("://", 1)[1], path, query, ""))
    return ProductRef(shop.store, sku, canonical)


def page_url(ref: ProductRef, shops: ShopList) -> str | None:
    """Where a product's page is: its canonical URL, or rebuilt from the sku when it is a path."""
    shop = shops.for_store(ref.store)
    if shop is None:
        return None
    if ref.url:
        return ref.url if shops.for_url(ref.url) is shop else None
    if ref.sku.startswith("/"):
        return shop.origin + ref.sku
    return None


def variant_of(url: str | None) -> str | None:
    if not url:
        return None
    for name, value in parse_qsl(urlsplit(url).query):
        if name == "variant" and _VARIANT.match(value):
            return value
    return None
