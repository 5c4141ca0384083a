"""Amazon product links: every shape and marketplace maps to one ProductRef, nothing else does."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pluggy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.provisional import domains, urls

import hashcart_amazon
from hashcart import ProductRef
from hashcart_amazon.urls import MARKETPLACES, STOREFRONT_PREFIXES, marketplace_of

parse = hashcart_amazon.hashcart_product_from_url


def ref(asin: str, domain: str = "amazon.com") -> ProductRef:
    return ProductRef("amazon", asin, f"https://www.{domain}/dp/{asin}")


# ---------------------------------------------------------------------------------------------
# Table tests: the shapes of every Amazon link form, one marketplace each
# ---------------------------------------------------------------------------------------------

PRODUCT_LINKS = [
    ("https://www.amazon.com/dp/B08N5WRWNW", ref("B08N5WRWNW")),
    (
        "https://www.amazon.com/Google-Nexus-Tablet-7-Inch-Black/dp/B00DVFLJDS/ref=sr_1_1"
        "?ie=UTF8&qid=1387937682&sr=8-1&keywords=nexus+7",
        ref("B00DVFLJDS"),
    ),
    ("https://amazon.com/dp/B08N5WRWNW/", ref("B08N5WRWNW")),
    ("http://www.amazon.com/dp/B08N5WRWNW", ref("B08N5WRWNW")),
    ("https://www.amazon.com/dp/b08n5wrwnw", ref("B08N5WRWNW")),
    ("https://WWW.AMAZON.COM/DP/B08N5WRWNW", ref("B08N5WRWNW")),
    ("https://www.amazon.com/dp/B08N5WRWNW?tag=hashcart-20&psc=1&th=1", ref("B08N5WRWNW")),
    ("https://www.amazon.com/dp/B08N5WRWNW#customerReviews", ref("B08N5WRWNW")),
    ("https://www.amazon.com/dp/product/B0916J478T", ref("B0916J478T")),
    ("https://www.amazon.com/Brand/Some-Title/dp/B0916J478T", ref("B0916J478T")),
    ("https://www.amazon.com/gp/product/B0916J478T?psc=1", ref("B0916J478T")),
    ("https://www.amazon.com/gp/product/B0916J478T/ref=ox_sc_act_title_1", ref("B0916J478T")),
    ("https://www.amazon.com/gp/product/glance/B0916J478T", ref("B0916J478T")),
    ("https://www.amazon.com/gp/aw/d/B016ZE6ADU/ref=mp_s_a_1_30?qid=1&sr=8-30", ref("B016ZE6ADU")),
    ("https://www.amazon.com/exec/obidos/ASIN/B0916J478T/ref=nosim", ref("B0916J478T")),
    ("https://www.amazon.com/exec/obidos/asin/B0916J478T/hashcart-20", ref("B0916J478T")),
    ("https://www.amazon.com/exec/obidos/tg/detail/-/0345391802", ref("0345391802")),
    ("https://www.amazon.co.jp/o/ASIN/B004W6ISOI", ref("B004W6ISOI", "amazon.co.jp")),
    ("https://www.amazon.co.jp/o/B004W6ISOI", ref("B004W6ISOI", "amazon.co.jp")),
    ("https://www.amazon.in/product/B08N5WRWNW", ref("B08N5WRWNW", "amazon.in")),
    (
        "https://www.amazon.com/Some-Title/product-reviews/B08N5WRWNW/ref=cm_cr_dp",
        ref("B08N5WRWNW"),
    ),
    ("https://www.amazon.com/gp/offer-listing/B08N5WRWNW/ref=dp_olp_all_mbc", ref("B08N5WRWNW")),
    # Percent-encoded UTF-8 slug (a Japanese title) before /dp/.
    (
        "https://www.amazon.co.jp/%E3%83%86%E3%82%B9%E3%83%88/dp/B004W6ISOI/ref=sr_1_1",
        ref("B004W6ISOI", "amazon.co.jp"),
    ),
    # Language switch prefix.
    ("https://www.amazon.de/-/en/Some-Title/dp/B08N5WRWNW?th=1", ref("B08N5WRWNW", "amazon.de")),
    ("https://www.amazon.ae/-/zh_TW/dp/B08N5WRWNW", ref("B08N5WRWNW", "amazon.ae")),
    # ISBN-10 style ASINs: ten digits, or nine digits and an X.
    ("https://www.amazon.co.uk/dp/0345391802", ref("0345391802", "amazon.co.uk")),
    ("https://www.amazon.fr/Livre/dp/080442957x", ref("080442957X", "amazon.fr")),
    # Hosts: bare, www., m., smile. (retired), trailing dot.
    ("https://m.amazon.de/dp/B08N5WRWNW", ref("B08N5WRWNW", "amazon.de")),
    ("https://smile.amazon.com/dp/B08N5WRWNW", ref("B08N5WRWNW")),
    ("https://www.amazon.com./dp/B08N5WRWNW", ref("B08N5WRWNW")),
    # Associates links that carry the ASIN only in creativeASIN=.
    (
        "https://www.amazon.com/gp/product/?ie=UTF8&camp=1789&creative=9325"
        "&creativeASIN=B08N5WRWNW&linkCode=as2&tag=hashcart-20",
        ref("B08N5WRWNW"),
    ),
    (
        "https://www.amazon.com/gp/redirect.html?creativeASIN=b08n5wrwnw&tag=x-20",
        ref("B08N5WRWNW"),
    ),
]


@pytest.mark.parametrize(("url", "expected"), PRODUCT_LINKS)
def test_product_link_shapes(url: str, expected: ProductRef) -> None:
    assert parse(url) == expected


@pytest.mark.parametrize("domain", sorted(MARKETPLACES))
@pytest.mark.parametrize("prefix", STOREFRONT_PREFIXES)
def test_every_marketplace_and_storefront_host(prefix: str, domain: str) -> None:
    url = f"https://{prefix}{domain}/Some-Product/dp/B08N5WRWNW/ref=sr_1_1?tag=x-21"
    assert parse(url) == ref("B08N5WRWNW", domain)


def test_the_documented_marketplace_list_is_complete() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "wire-formats.md").read_text()
    section = text.split("- **Marketplaces**", 1)[1].split("\n- **", 1)[0]
    assert set(re.findall(r"`(amazon\.[a-z.]+)`", section)) == MARKETPLACES


NOT_PRODUCT_LINKS = [
    # Not URLs, other schemes.
    "",
    "B08N5WRWNW",
    "4006381333931",
    "www.amazon.com/dp/B08N5WRWNW",
    "javascript:alert(1)//https://www.amazon.com/dp/B08N5WRWNW",
    "data:text/html,https://www.amazon.com/dp/B08N5WRWNW",
    "ftp://www.amazon.com/dp/B08N5WRWNW",
    "file:///www.amazon.com/dp/B08N5WRWNW",
    "//www.amazon.com/dp/B08N5WRWNW",
    # User-info tricks.
    "https://amazon.com@evil.com/dp/B08N5WRWNW",
    "https://www.amazon.com:pw@evil.com/dp/B08N5WRWNW",
    "https://evil.com@www.amazon.com/dp/B08N5WRWNW",
    "https://evil.com\\@www.amazon.com/dp/B08N5WRWNW",
    # IDN and Unicode look-alikes.
    "https://аmazon.com/dp/B08N5WRWNW",  # Cyrillic а
    "https://www.аmazon.com/dp/B08N5WRWNW",
    "https://xn--mazon-3ve.com/dp/B08N5WRWNW",
    "https://ａｍａｚｏｎ.com/dp/B08N5WRWNW",  # fullwidth
    "https://amazon.com\u200b/dp/B08N5WRWNW",  # zero-width space
    # Look-alike and non-storefront domains.
    "https://amazon.com.evil.io/dp/B08N5WRWNW",
    "https://www.amazon.com.evil.io/dp/B08N5WRWNW",
    "https://notamazon.com/dp/B08N5WRWNW",
    "https://amazon.evil.com/dp/B08N5WRWNW",
    "https://amazon.co/dp/B08N5WRWNW",
    "https://amazon.com.sa/dp/B08N5WRWNW",
    "https://aws.amazon.com/dp/B08N5WRWNW",
    "https://sellercentral.amazon.com/dp/B08N5WRWNW",
    "https://www.amazon.com\\.evil.io/dp/B08N5WRWNW",
    "https://evil.io/www.amazon.com/dp/B08N5WRWNW",
    "https://evil.io/?u=https://www.amazon.com/dp/B08N5WRWNW",
    # Ports and IP addresses.
    "https://www.amazon.com:443/dp/B08N5WRWNW",
    "https://www.amazon.com:8080/dp/B08N5WRWNW",
    "https://54.239.28.85/dp/B08N5WRWNW",
    "https://[2600:9000::1]/dp/B08N5WRWNW",
    # Over-long URLs (10 kB query string).
    "https://www.amazon.com/dp/B08N5WRWNW?" + "x=" + "a" * 10_000,
    # Amazon pages that are not one product.
    "https://www.amazon.com/",
    "https://www.amazon.com/s?k=echo+dot",
    "https://www.amazon.com/s/ref=nb_sb_noss?field-keywords=B08N5WRWNW",
    "https://www.amazon.com/stores/page/B08N5WRWNW",
    "https://www.amazon.com/stores/Apple/page/77D9E1F7-0337-4282-9DB6-B6B8FB2DC98D",
    "https://www.amazon.com/hz/wishlist/ls/3GPFXU9S7BTPK",
    "https://www.amazon.com/gp/cart/view.html",
    "https://www.amazon.com/s?k=x&creativeASIN=B08N5WRWNW",
    # The ASIN candidate is in a slug, not after a marker.
    "https://www.amazon.com/PlayStatio/B08N5WRWNW",
    "https://www.amazon.com/PlayStation-5-Console/",
    # Invalid ASINs.
    "https://www.amazon.com/dp/B08N5WRWN",
    "https://www.amazon.com/dp/B08N5WRWNWX",
    "https://www.amazon.com/dp/A08N5WRWNW",
    "https://www.amazon.com/dp/12345678XX",
    "https://www.amazon.com/dp/X123456789",
    "https://www.amazon.com/dp/B08N5-RWNW",
    "https://www.amazon.com/dp/%42%30%38N5WRWNW",
    "https://www.amazon.com/dp/B08N5WRWNW%00",
    "https://www.amazon.com/dp/",
    # Short links are expanded over HTTP by the redirect hook, not parsed.
    "https://amzn.to/3xYzAbC",
    "https://a.co/d/04jZBreV",
    "https://amzn.eu/d/abcdefg",
    "https://amzn.asia/d/j4Fq9jM",
    "https://amzn.com/B08N5WRWNW",
    # Whitespace and control characters.
    "https://www.amazon.com/dp/B08N5WRWNW extra",
    "https://www.ama\tzon.com/dp/B08N5WRWNW",
    "https://www.amazon.com/dp/B08N5WRWNW\n",
]


@pytest.mark.parametrize("url", NOT_PRODUCT_LINKS)
def test_everything_else_is_not_a_product(url: str) -> None:
    assert parse(url) is None


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

asins = st.one_of(st.from_regex(r"\AB[0-9A-Z]{9}\Z"), st.from_regex(r"\A[0-9]{9}[0-9X]\Z"))
# Slugs are free text, percent-encoded; never exactly ten letters/digits, which could be an ASIN.
slugs = (
    st.text(min_size=1, max_size=30)
    .map(lambda s: quote(s, safe="-"))
    .filter(lambda s: not (len(s) == 10 and s.isalnum()))
)
SHAPES = [
    "/dp/{asin}",
    "/{slug}/dp/{asin}",
    "/dp/product/{asin}",
    "/gp/product/{asin}",
    "/gp/product/{slug}/{asin}",
    "/gp/aw/d/{asin}",
    "/exec/obidos/ASIN/{asin}",
    "/exec/obidos/asin/{asin}/hashcart-20",
    "/o/ASIN/{asin}",
    "/o/{asin}",
    "/product/{asin}",
    "/{slug}/product-reviews/{asin}",
    "/gp/offer-listing/{asin}",
    "/-/en/{slug}/dp/{asin}",
]
TRACKING_KEYS = [
    "tag", "ref", "ref_", "linkCode", "linkId", "creativeASIN", "camp", "creative", "psc", "th",
    "smid", "keywords", "qid", "sr", "pd_rd_w", "pd_rd_r", "pf_rd_p", "pf_rd_r", "content-id",
]  # fmt: skip
tracking = st.lists(
    st.tuples(st.sampled_from(TRACKING_KEYS), st.text(max_size=20)), max_size=6
).map(lambda pairs: urlencode(pairs))
tails = st.sampled_from(["", "/", "/ref=sr_1_1", "/ref=nosim", "/ref=as_li_ss_tl"])
fragments = st.one_of(st.just(""), st.text(max_size=20).map(lambda s: "#" + quote(s)))


@settings(max_examples=200)
@given(
    asin=asins,
    lower=st.booleans(),
    domain=st.sampled_from(sorted(MARKETPLACES)),
    prefix=st.sampled_from(STOREFRONT_PREFIXES),
    scheme=st.sampled_from(["https", "http", "HTTPS"]),
    shape=st.sampled_from(SHAPES),
    slug=slugs,
    tail=tails,
    query=tracking,
    fragment=fragments,
)
def test_any_product_link_gives_the_same_ref(
    asin: str,
    lower: bool,
    domain: str,
    prefix: str,
    scheme: str,
    shape: str,
    slug: str,
    tail: str,
    query: str,
    fragment: str,
) -> None:
    path = shape.format(asin=asin.lower() if lower else asin, slug=slug) + tail
    url = f"{scheme}://{prefix}{domain}{path}{'?' + query if query else ''}{fragment}"
    assert parse(url) == ref(asin, domain)


@settings(max_examples=300)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    result = parse(text)
    assert result is None or isinstance(result, ProductRef)


@settings(max_examples=100)
@given(urls())
def test_arbitrary_urls_never_raise(url: str) -> None:
    result = parse(url)
    assert result is None or (result.url or "").startswith("https://www.amazon.")


@settings(max_examples=200)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    asins,
    st.sampled_from(["https://", "http://", "https://www.amazon.com", "https://amazon.de/dp/"]),
)
def test_mangled_amazon_links_never_raise(noise: str, asin: str, start: str) -> None:
    for url in (f"{start}{noise}/dp/{asin}", f"{start}/dp/{asin}{noise}", f"{start}{noise}"):
        result = parse(url)
        assert result is None or _is_canonical(result)


def _is_canonical(result: ProductRef) -> bool:
    host = urlsplit(result.url or "").hostname or ""
    return result.url == f"https://{host}/dp/{result.sku}" and marketplace_of(host) is not None


def _look_alikes() -> st.SearchStrategy[str]:
    domain = st.sampled_from(sorted(MARKETPLACES))
    label = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?\Z")
    return st.one_of(
        domains().filter(lambda host: marketplace_of(host) is None),
        st.builds(lambda d, other: f"{d}.{other}", domain, domains()),  # amazon.com.evil.io
        st.builds(lambda lab, d: f"{lab}{d}", label, domain),  # notamazon.com
        st.builds(lambda lab, d: f"{lab}.{d}", label, domain).filter(  # aws.amazon.com
            lambda host: marketplace_of(host) is None
        ),
        st.builds(lambda d, lab: f"{d.rsplit('.', 1)[0]}.{lab}", domain, label).filter(
            lambda host: marketplace_of(host) is None  # amazon.evil
        ),
    )


@settings(max_examples=200)
@given(host=_look_alikes(), asin=asins, shape=st.sampled_from(SHAPES))
def test_other_hosts_are_never_amazon(host: str, asin: str, shape: str) -> None:
    assert parse(f"https://{host}{shape.format(asin=asin, slug='Slug')}") is None


# ---------------------------------------------------------------------------------------------
# The module as a pluggy plugin
# ---------------------------------------------------------------------------------------------


def test_hooks_match_the_core_hookspecs() -> None:
    from hashcart import hookspecs

    pm = pluggy.PluginManager("hashcart")
    pm.add_hookspecs(hookspecs)
    pm.register(hashcart_amazon, name="amazon")
    pm.check_pending()

    url = "https://www.amazon.com/dp/B08N5WRWNW?tag=x-20"
    assert pm.hook.hashcart_product_from_url(url=url) == ref("B08N5WRWNW")
    assert pm.hook.hashcart_product_from_url(url="https://example.com/dp/B08N5WRWNW") is None


def test_redirect_hook_declines_other_hosts_without_a_coroutine() -> None:
    """First result wins, so declining must be a plain None, or later plugins never run."""
    for url in ("https://www.amazon.com/dp/B08N5WRWNW", "https://bit.ly/x", "not a url"):
        assert hashcart_amazon.hashcart_resolve_redirect(url) is None
    pending = hashcart_amazon.hashcart_resolve_redirect("https://amzn.to/3xYzAbC")
    assert inspect.iscoroutine(pending)
    pending.close()
