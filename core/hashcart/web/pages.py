"""Rendering the server-side pages: the Jinja environments, `page` and the helpers every
page's handlers share.

Every page is plain HTML from Jinja2 templates and works without JavaScript; forms post with a
CSRF token and answer with a redirect (post/redirect/get), so a reload never posts twice.

There is one Jinja environment per language, with `jinja2.ext.i18n` installed. Templates say
`{{ _("web.cart.title") }}` and `{{ ngettext(id, id, n, **params) }}` with the reply catalogs'
own ids and `{name}` placeholders. Page texts may carry inline HTML (`<strong>`), so a
translation is markup: its parameters are escaped, the catalog's own text is trusted. A text
that is no catalog id is shown as it is, escaped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from hashcart.errors import NotFound
from hashcart.i18n import (
    DEFAULT_LOCALE,
    available_locales,
    message_ids,
    normalise_locale,
    translate,
)
from hashcart.web.server import hashcart_of
from hashcart.web.session import Handler, checked_form, session_of, with_session

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment(locale: str) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )

    def gettext(msgid: str, **params: Any) -> Markup:
        if msgid not in message_ids(DEFAULT_LOCALE):
            return escape(msgid)
        safe = {
            key: value if isinstance(value, int | float) else escape(value)
            for key, value in params.items()
        }
        return Markup(translate(locale, msgid, **safe))

    def ngettext(msgid: str, plural: str, n: int, **params: Any) -> Markup:
        return gettext(msgid, n=n, **params)

    environment.install_gettext_callables(gettext, ngettext)  # type: ignore[attr-defined]
    environment.globals["lang"] = locale.replace("_", "-")
    return environment


def environment(locale: str | None) -> jinja2.Environment:
    """The environment whose `_` speaks `locale` (English for a language without a catalog)."""
    return _environment(normalise_locale(locale))


def preferred_locale(accept_language: str | None) -> str | None:
    """The best catalog for an `Accept-Language` header, or None when it names none of them."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, weight = part.strip().partition(";")
        try:
            quality = float(weight.strip().removeprefix("q=")) if weight else 1.0
        except ValueError:
            continue
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag.strip()))
    known = available_locales()
    for _quality, _index, tag in sorted(ranked):
        chosen = normalise_locale(tag)
        if chosen in known and (chosen != "en" or tag.lower().startswith("en")):
            return chosen
    return None


def page_locale(account: dict[str, Any] | None, accept_language: str | None) -> str:
    """The account's own language when it chose one, else what the browser asks for."""
    chosen = (account or {}).get("language")
    return normalise_locale(chosen or preferred_locale(accept_language))


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


#: The name on the sign-in button of the configured OpenID Connect provider, set by the routes
#: that serve it; pages show no such button without it.
SIGNIN_BUTTON_KEY: web.AppKey[str] = web.AppKey("hashcart_signin_button", str)

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
    context.setdefault("oidc_name", request.app.get(SIGNIN_BUTTON_KEY))
    html = environment(locale).get_template(template).render(**context)
    headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}
    return web.Response(text=html, status=status, content_type="text/html", headers=headers)


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


async def linked_elsewhere(request: web.Request, who: str, platform: str) -> web.Response:
    """The identity is another account's, and linking never takes it away from that account."""
    params = {"who": who, "platform": platform}
    title, text = "web.error.linked_elsewhere.title", "web.error.linked_elsewhere.text"
    return await message(request, 409, title, text, params)


async def forbidden(request: web.Request) -> web.Response:
    return await message(
        request, 403, "web.error.form_expired.title", "web.error.form_expired.text"
    )


FormHandler = Callable[[web.Request, dict[str, Any]], Awaitable[web.Response]]


def form_handler(handler: FormHandler) -> Handler:
    """A form's POST handler, run only when the form carries this browser's CSRF token."""

    @with_session
    async def checked(request: web.Request) -> web.Response:
        form = await checked_form(request)
        if form is None:
            return await forbidden(request)
        return await handler(request, form)

    return checked


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
