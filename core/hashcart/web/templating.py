"""The Jinja environment of the pages, one per language, with `jinja2.ext.i18n` installed.

Templates say `{{ _("web.cart.title") }}` and `{{ ngettext(id, id, n, **params) }}` with the
reply catalogs' own ids and `{name}` placeholders. Page texts may carry inline HTML (`<strong>`),
so a translation is markup: its parameters are escaped, the catalog's own text is trusted. A
text that is no catalog id is shown as it is, escaped.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from hashcart.i18n import (
    DEFAULT_LOCALE,
    available_locales,
    message_ids,
    normalise_locale,
    translate,
)

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
