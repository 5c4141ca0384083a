"""Server-rendered pages that replies point people to: linking, signing in, the cart.

Every page is plain HTML from Jinja2 templates and works without JavaScript; forms post with a
CSRF token and answer with a redirect (post/redirect/get), so a reload never posts twice.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from aiohttp import web

from hashcart.errors import Conflict, NotFound
from hashcart.i18n import translate
from hashcart.web import session
from hashcart.web.server import hashcart_of
from hashcart.web.session import checked_form, session_of, with_session
from hashcart.web.templating import environment, page_locale

HERE = Path(__file__).parent

#: How people call each platform; unknown platforms show their plugin name.
PLATFORM_NAMES = {"twitter": "X", "slack": "Slack", "discord": "Discord"}

#: Notices a redirect may ask a page to show (`?done=KEY`, catalog id `web.notice.KEY`); fixed
#: text, so nothing is injected.
NOTICES = frozenset(
    {"linked", "quantity", "removed", "unlinked", "privacy", "welcome", "signed-in"}
)


def platform_name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform.capitalize())


def identity_label(platform: str, user_id: str, user_name: str | None) -> str:
    if user_name:
        return f"@{user_name}" if platform in ("twitter", "discord") else user_name
    return f"user {user_id}"


def render(
    template: str, status: int = 200, locale: str | None = None, **context: Any
) -> web.Response:
    html = environment(locale).get_template(template).render(**context)
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


CURRENT_KEY: web.RequestKey[dict[str, Any]] = web.RequestKey("hashcart_current_account", dict)


async def current_account(request: web.Request) -> dict[str, Any] | None:
    """The signed-in account, or None.

    A shop's `hashcart_authenticate` is asked on every request: a session it started ends when
    its answer changes (the next customer at a shared computer), and a different customer it
    names replaces whoever was signed in. A session whose account is gone, or whose version the
    account has moved past (sign-out everywhere, new password), is signed out.
    """
    cached = request.get(CURRENT_KEY)
    if cached is not None:
        return cached or None
    state = session_of(request)
    hashcart = hashcart_of(request)
    accounts = hashcart.accounts
    if hashcart.plugins.implemented("hashcart_authenticate"):
        shop_account: str | None = await hashcart.plugins.first(
            "hashcart_authenticate", request=request, hashcart=hashcart
        )
        if state.via_shop and shop_account != state.account_id:
            state.sign_out()
        if shop_account is not None and shop_account != state.account_id:
            version = await accounts.session_version(shop_account)
            if version is not None:
                state.sign_in(shop_account, version, via_shop=True)
    found = None
    if state.account_id is not None:
        version = await accounts.session_version(state.account_id)
        if version is not None and version == state.version:
            with contextlib.suppress(NotFound):
                found = await accounts.get(state.account_id)
        if found is None:
            state.sign_out()
    request[CURRENT_KEY] = found or {}
    return found


async def page(
    request: web.Request, template: str, status: int = 200, **context: Any
) -> web.Response:
    """Render a page with what every page needs: the account, the CSRF token, a notice, and
    the language: the account's own choice, else the browser's."""
    context.setdefault("account", await current_account(request))
    context.setdefault("csrf", session_of(request).csrf)
    locale = page_locale(context["account"], request.headers.get("Accept-Language"))
    done = request.query.get("done", "")
    if context.get("notice") is None and done in NOTICES:
        context["notice"] = translate(locale, f"web.notice.{done}")
    context.setdefault("link_minutes", hashcart_of(request).settings.link_token_minutes)
    from hashcart.web.oidc import button_name  # oidc builds on this module

    context.setdefault("oidc_name", button_name(request.app))
    return render(template, status, locale, **context)


async def message(
    request: web.Request,
    status: int,
    title: str,
    text: str,
    params: dict[str, Any] | None = None,
    **context: Any,
) -> web.Response:
    """A page of one title and one text: catalog ids (filled in with `params`) or plain text."""
    return await page(
        request, "message.html", status, title=title, message=text, params=params or {}, **context
    )


async def forbidden(request: web.Request) -> web.Response:
    return await message(
        request,
        403,
        "web.error.form_expired.title",
        "web.error.form_expired.text",
    )


#: Longer `next` values are no path of this site.
MAX_NEXT = 1000


def safe_next(value: object, default: str = "/cart") -> str:
    """Only same-site paths, so a crafted `next` cannot send people elsewhere after sign-in.

    Browsers drop tabs and line breaks from a `Location` and read a backslash as a slash, so
    `/\t/evil.example/` would be taken as `//evil.example/`, another site: any control
    character, whitespace or backslash, before or after percent-decoding, refuses the value, as
    does anything that parses with a scheme or a host.
    """
    if not isinstance(value, str) or not value.startswith("/") or len(value) > MAX_NEXT:
        return default
    for form in (value, unquote(value)):
        if any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in form):
            return default
        if form.startswith("//"):
            return default
        parsed = urlsplit(form)
        if parsed.scheme or parsed.netloc:
            return default
    return value


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


# -- linking ---------------------------------------------------------------------------------------


async def _token_problem(request: web.Request, token: str) -> web.Response | None:
    found = await hashcart_of(request).accounts.token(token)
    if found is None:
        return await message(
            request,
            404,
            "Link not found",
            "This link is not one we sent. Ask the bot for a new one with /cart link.",
        )
    if not found.usable:
        return await message(
            request,
            410,
            "Link expired",
            "This link was already used or is older than 15 minutes. "
            "Ask the bot for a new one with /cart link.",
        )
    return None


@with_session
async def link_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    problem = await _token_problem(request, token)
    if problem is not None:
        return problem
    hashcart = hashcart_of(request)
    found = await hashcart.accounts.token(token)
    assert found is not None
    return await page(
        request,
        "link.html",
        who=identity_label(found.platform, found.user_id, found.user_name),
        platform=platform_name(found.platform),
        token=token,
        next=f"/link/{token}",
        pending=await hashcart.accounts.pending_count(found.platform, found.user_id),
    )


@with_session
async def confirm_link(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    form = await checked_form(request)
    if form is None:
        return await forbidden(request)
    account = await current_account(request)
    if account is None:
        return see_other(f"/link/{token}")
    hashcart = hashcart_of(request)
    claimed = await hashcart.accounts.claim_token(token)
    if claimed is None:
        problem = await _token_problem(request, token)
        return problem or see_other(f"/link/{token}")
    try:
        await hashcart.link_identity(
            account["id"], claimed.platform, claimed.user_id, claimed.user_name
        )
    except Conflict:
        await hashcart.accounts.release_token(token)
        return await message(
            request,
            409,
            "Linked to another cart",
            f"{identity_label(claimed.platform, claimed.user_id, claimed.user_name)} on "
            f"{platform_name(claimed.platform)} is linked to another account. Sign in to that "
            "account and unlink it there first.",
        )
    return see_other("/cart?done=linked")


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = HERE / "static" / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return web.Response(status=404, text="not found")
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=300"})


def add_routes(app: web.Application) -> None:
    from hashcart.web import auth, cart_page, link_proof

    session.install(app, app_public_url(app))
    app.router.add_get("/static/{name}", static_file)
    link_proof.add_routes(app)
    app.router.add_get("/link/{token}", link_page)
    app.router.add_post("/link/{token}", confirm_link)
    auth.add_routes(app)
    cart_page.add_routes(app)


def app_public_url(app: web.Application) -> str:
    from hashcart.web.server import HASHCART_KEY

    return app[HASHCART_KEY].settings.public_url


__all__ = ["add_routes", "page", "render"]
