"""Server-rendered pages that replies point people to: the link page and the cart page."""

from __future__ import annotations

import time
from pathlib import Path

import jinja2
from aiohttp import web

from hashcart.web.server import hashcart_of

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=jinja2.select_autoescape(["html"]),
)


def render(name: str, status: int = 200, **context: object) -> web.Response:
    html = _templates.get_template(name).render(**context)
    return web.Response(text=html, status=status, content_type="text/html")


async def link_page(request: web.Request) -> web.Response:
    token = await hashcart_of(request).accounts.token(request.match_info["token"])
    if token is None:
        return render(
            "message.html",
            404,
            title="Link not found",
            message="This link is not one we sent. Ask the bot for a new one with /cart link.",
        )
    if token.used_at is not None or token.expires_at <= time.time():
        return render(
            "message.html",
            410,
            title="Link expired",
            message="This link was already used or is older than 15 minutes. "
            "Ask the bot for a new one with /cart link.",
        )
    who = f"@{token.user_name}" if token.user_name else f"user {token.user_id}"
    return render("link.html", who=who, platform=token.platform.capitalize())


async def cart_page(request: web.Request) -> web.Response:
    return render(
        "message.html",
        401,
        title="Sign in to see your cart",
        message="Signing in on the web is not available yet in this version of hashcart.",
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/link/{token}", link_page)
    app.router.add_get("/cart", cart_page)
