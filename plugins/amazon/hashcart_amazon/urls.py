"""Recognise Amazon product links and reduce them to one canonical form per product.

People paste whatever their browser or app shows: slugs, `ref=` trails, affiliate tags, mobile
and legacy paths, any marketplace. Two links to the same product must land on the same cart line,
and a link that only looks like Amazon must never be taken for it, so the host is matched against
a closed list and the ASIN only where Amazon puts it (never in a slug).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from hashcart import ProductRef, is_safe_url

STORE = "amazon"

#: Storefront domains and the currency each sells in (for an item with no offer, so no price).
#: `amazon.ie` and `amazon.co.za` are the storefronts of the Irish and South African
#: marketplaces; `amazon.com.sa` is only Saudi seller central.
CURRENCIES = {
    "amazon.com": "USD",
    "amazon.ca": "CAD",
    "amazon.com.mx": "MXN",
    "amazon.com.br": "BRL",
    "amazon.co.uk": "GBP",
    "amazon.de": "EUR",
    "amazon.fr": "EUR",
    "amazon.it": "EUR",
    "amazon.es": "EUR",
    "amazon.nl": "EUR",
    "amazon.com.be": "EUR",
    "amazon.ie": "EUR",
    "amazon.co.jp": "JPY",
    "amazon.com.au": "AUD",
    "amazon.se": "SEK",
    "amazon.pl": "PLN",
    "amazon.com.tr": "TRY",
    "amazon.eg": "EGP",
    "amazon.sa": "SAR",
    "amazon.ae": "AED",
    "amazon.in": "INR",
    "amazon.sg": "SGD",
    "amazon.co.za": "ZAR",
}
MARKETPLACES = frozenset(CURRENCIES)
DEFAULT_MARKETPLACE = "amazon.com"

#: Sub-domains that serve the storefront. Other sub-domains (aws., developer., sellercentral.)
#: are not shops, so they are refused rather than matched by suffix.
STOREFRONT_PREFIXES = ("", "www.", "m.", "smile.")

_ASIN = re.compile(r"B[0-9A-Z]{9}|[0-9]{9}[0-9X]")

# An optional language switch such as /-/en/ or /-/zh_TW/ may precede any shape.
_LANGUAGE = re.compile(r"^/-/[a-z]{2}(?:[_-][a-z]{2})?(?=/)", re.IGNORECASE)

# Shapes that may follow free-text slug segments: /{slug}/dp/{ASIN}, /{slug}/product-reviews/…
_AFTER_SLUG = re.compile(
    r"^(?:/[^/]+)*?/(?:dp|dp/product|product-reviews)/([a-z0-9]{10})(?:/|$)", re.IGNORECASE
)

# Shapes that start the path; /gp/product/{text}/{ASIN} and the /exec/obidos/ ones are legacy.
_ROOTED = re.compile(
    r"^/(?:gp/product(?:/[^/]+)??|gp/aw/d|gp/offer-listing|exec/obidos/asin"
    r"|exec/obidos/tg/detail/-|o/asin|o|product)/([a-z0-9]{10})(?:/|$)",
    re.IGNORECASE,
)

# Associates redirect links that carry the product only in `creativeASIN=`.
_CREATIVE_ASIN_PATHS = frozenset({"/gp/redirect.html", "/gp/product", "/dp"})


def marketplace_of(host: str) -> str | None:
    """The storefront domain a host belongs to, or None when it is not an Amazon storefront."""
    host = host.lower().removesuffix(".")
    for prefix in STOREFRONT_PREFIXES:
        if host.startswith(prefix) and host[len(prefix) :] in MARKETPLACES:
            return host[len(prefix) :]
    return None


def marketplace_of_url(url: str | None) -> str:
    """The storefront domain a product was linked on (amazon.com when the link did not say)."""
    host = urlsplit(url).hostname if url else None
    return marketplace_of(host or "") or DEFAULT_MARKETPLACE


def valid_asin(candidate: str) -> str | None:
    """The upper-cased ASIN, or None when it cannot be one."""
    asin = candidate.upper()
    return asin if _ASIN.fullmatch(asin) else None


def canonical_url(marketplace: str, asin: str) -> str:
    """The one URL stored for a product: no slug, no tag, no tracking."""
    return f"https://www.{marketplace}/dp/{asin}"


def product_from_url(url: str) -> ProductRef | None:
    """The product an Amazon storefront link names, or None for anything else (never raises)."""
    if not is_safe_url(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    marketplace = marketplace_of(parts.hostname or "")
    if marketplace is None:
        return None
    asin = _asin_from_path(parts.path) or _asin_from_query(parts.path, parts.query)
    if asin is None:
        return None
    return ProductRef(STORE, asin, canonical_url(marketplace, asin))


def _asin_from_path(path: str) -> str | None:
    # The language switch is stripped only as a second try: a slug may itself be "-".
    for candidate in (path, _LANGUAGE.sub("", path, count=1)):
        match = _AFTER_SLUG.match(candidate) or _ROOTED.match(candidate)
        if match and (asin := valid_asin(match.group(1))):
            return asin
    return None


def _asin_from_query(path: str, query: str) -> str | None:
    if path.rstrip("/").lower() not in _CREATIVE_ASIN_PATHS:
        return None
    values = parse_qs(query).get("creativeASIN", [])
    return valid_asin(values[0]) if len(values) == 1 else None
