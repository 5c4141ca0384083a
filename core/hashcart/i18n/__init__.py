"""Reply texts from gettext catalogs (`<locale>.po` beside this file), keyed by message id.

Catalog entries use `{name}` placeholders. A locale is matched exactly (`pt_BR`), then by its
language (`pt`), then falls back to English; a message missing from a catalog falls back too.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po
from babel.numbers import format_currency

CATALOG_DIR = Path(__file__).parent
DEFAULT_LOCALE = "en"


class _Lenient(dict[str, Any]):
    """Leaves an unknown `{placeholder}` as it is instead of failing a reply."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@cache
def _catalog(locale: str) -> dict[str, str]:
    path = CATALOG_DIR / f"{locale}.po"
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


@cache
def available_locales() -> list[str]:
    return sorted(p.stem for p in CATALOG_DIR.glob("*.po"))


def normalise_locale(locale: str | None) -> str:
    """`de-DE`, `de_DE` and `de` all find the German catalog; unknown ones give English."""
    if not locale:
        return DEFAULT_LOCALE
    candidate = locale.replace("-", "_")
    known = available_locales()
    if candidate in known:
        return candidate
    language = candidate.split("_")[0].lower()
    return language if language in known else DEFAULT_LOCALE


def translate(locale: str | None, msgid: str, **params: Any) -> str:
    """The message `msgid` in `locale` with `params` filled in."""
    chosen = normalise_locale(locale)
    text = _catalog(chosen).get(msgid) or _catalog(DEFAULT_LOCALE).get(msgid) or msgid
    return text.format_map(_Lenient(params))


def money(cents: int, currency: str, locale: str | None) -> str:
    """A price for people: `$19.99`, `19,99 $`."""
    chosen = normalise_locale(locale)
    try:
        Locale.parse(chosen)
    except (UnknownLocaleError, ValueError):
        chosen = DEFAULT_LOCALE
    return str(format_currency(cents / 100, currency, locale=chosen))


def message_ids(locale: str = DEFAULT_LOCALE) -> set[str]:
    return set(_catalog(locale))
