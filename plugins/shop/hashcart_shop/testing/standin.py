"""A small shop whose product pages carry schema.org JSON-LD, as shop systems embed it for search
engines (Shopify variants also answer `/products/<handle>.js`). It records every path it was
asked for, so a test can show that something was never fetched; the playground serves one so
that a non-Amazon link can be tried without any network."""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from hashcart.testing.standins import LocalServer


@dataclass
class ShopItem:
    """One product page at `path` (e.g. `/products/mug`)."""

    path: str
    title: str
    price_cents: int
    currency: str = "USD"
    available: bool = True
    image: str | None = None
    sku: str | None = None
    #: Shopify variant id: the page is then also answered as `/products/<handle>.js`.
    variant_id: int | None = None

    def json_ld(self, origin: str) -> dict[str, Any]:
        stock = "InStock" if self.available else "OutOfStock"
        data: dict[str, Any] = {
            "@context": "https://schema.org",
            "@type": "Product",
            "name": self.title,
            "sku": self.sku or self.path.rsplit("/", 1)[-1],
            "offers": {
                "@type": "Offer",
                "url": origin + self.path,
                "price": f"{self.price_cents / 100:.2f}",
                "priceCurrency": self.currency,
                "availability": f"https://schema.org/{stock}",
            },
        }
        if self.image:
            data["image"] = self.image
        return data

    def shopify_js(self) -> dict[str, Any]:
        return {
            "id": self.variant_id,
            "title": self.title,
            "handle": self.path.rsplit("/", 1)[-1],
            "featured_image": self.image,
            "variants": [
                {
                    "id": self.variant_id,
                    "title": "Default Title",
                    "price": self.price_cents,
                    "available": self.available,
                    "sku": self.sku,
                }
            ],
        }


@dataclass
class ShopStandin(LocalServer):
    """The shop's pages; `raw` serves any other answer (a redirect, an error, a plain page)."""

    platform: ClassVar[str] = "shop"

    title: str = "Corner Shop"
    items: dict[str, ShopItem] = field(default_factory=dict)
    raw: dict[str, tuple[int, str, dict[str, str]]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

    def add(self, path: str, title: str, price_cents: int, **details: Any) -> ShopItem:
        item = self.items[path] = ShopItem(path, title, price_cents, **details)
        return item

    def answer(self, path: str, body: str, status: int = 200, **headers: str) -> None:
        self.raw[path] = (status, body, headers)

    def make_app(self, prefix: str = "") -> web.Application:
        """The shop's application; mounted under `prefix` or `start()`ed on its own port."""
        app = web.Application()

        async def handle(request: web.Request) -> web.Response:
            return await self._handle(request, prefix)

        app.router.add_get("/{path:.*}", handle)
        return app

    async def _handle(self, request: web.Request, prefix: str) -> web.Response:
        path = request.path.removeprefix(prefix) or "/"
        self.seen.append(path)
        origin = f"{request.scheme}://{request.host}{prefix}"
        if path in self.raw:
            status, body, headers = self.raw[path]
            return web.Response(status=status, text=body, content_type="text/html", headers=headers)
        if path == "/":
            return web.Response(text=self._index(origin), content_type="text/html")
        if path.startswith("/img/") and path.endswith(".svg"):
            return web.Response(text=_picture(path[5:-4]), content_type="image/svg+xml")
        variant = self.items.get(path.removesuffix(".js")) if path.endswith(".js") else None
        if variant is not None and variant.variant_id is not None:
            return web.json_response(variant.shopify_js())
        item = self.items.get(path)
        if item is None:
            return web.Response(status=404, text="not found")
        return web.Response(text=self._page(item, origin), content_type="text/html")

    def _index(self, origin: str) -> str:
        links = "".join(
            f'<li><a href="{html.escape(origin + path)}">{html.escape(item.title)}</a></li>'
            for path, item in self.items.items()
        )
        return f"<!doctype html><title>{html.escape(self.title)}</title><ul>{links}</ul>"

    def _page(self, item: ShopItem, origin: str) -> str:
        data = json.dumps(item.json_ld(origin)).replace("</", "<\\/")
        price = f"{item.price_cents / 100:.2f} {item.currency}"
        image = f'<img src="{html.escape(item.image)}" alt="">' if item.image else ""
        stock = "" if item.available else "<p>Sold out</p>"
        return (
            f"<!doctype html><html><head><title>{html.escape(item.title)}</title>"
            f'<script type="application/ld+json">{data}</script></head>'
            f"<body><h1>{html.escape(item.title)}</h1>{image}<p>{price}</p>{stock}</body></html>"
        )

    def plugin_env(self) -> dict[str, str]:
        """Lists the shop's address (with its port) beside any shops already allowed: a
        loopback address is allowed then."""
        hosts = (os.environ.get("HASHCART_SHOP_HOSTS", ""), self.url)
        return {"HASHCART_SHOP_HOSTS": ",".join(host for host in hosts if host)}


def _picture(name: str) -> str:
    """A product picture drawn on the spot: a coloured tile with the name's first letter."""
    hue = sum(map(ord, name)) % 360
    letter = html.escape((name[:1] or "?").upper())
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
        f'<rect width="96" height="96" rx="12" fill="hsl({hue},55%,45%)"/>'
        '<text x="48" y="62" font-size="44" text-anchor="middle" fill="#fff" '
        f'font-family="sans-serif">{letter}</text></svg>'
    )
