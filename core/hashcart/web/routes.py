"""The registry of the people's pages: sessions, static files, linking, sign-in, the cart."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hashcart.web import auth, cart_page, link_page, link_proof, session
from hashcart.web.server import HASHCART_KEY

STATIC = Path(__file__).parent / "static"
STATIC_PREFIX = "/static/"
STATIC_CACHE = "public, max-age=300"


async def _cache_static(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith(STATIC_PREFIX) and response.status == 200:
        response.headers["Cache-Control"] = STATIC_CACHE


def add_routes(app: web.Application) -> None:
    session.install(app, app[HASHCART_KEY].settings.public_url)
    app.router.add_static(STATIC_PREFIX, STATIC)
    app.on_response_prepare.append(_cache_static)
    link_proof.add_routes(app)
    link_page.add_routes(app)
    auth.add_routes(app)
    cart_page.add_routes(app)


__all__ = ["add_routes"]
