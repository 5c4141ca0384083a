"""Reply texts from gettext catalogs (`<locale>.po` beside this file), keyed by message id.

Catalog entries use `{name}` placeholders. A locale is matched exactly (`pt_BR`), then by its
language (`pt`), then falls back to English; a message missing from a catalog falls back too.

A message with plural forms (`msgid_plural`) is chosen by a number: the `n` parameter, else the
message's own `count` or `minutes`. Commands a text asks the user to send are placeholders
(`{confirm_command}`, `{forget_confirm_command}`): each platform fills them in
as its users type them, and `/cart …` is what they say when it does not.

`make install` (and so CI) compiles each `<locale>.mo` with `python -m hashcart.i18n`; a checkout
or an sdist without them, or with a `.po` edited since, compiles in memory on first use instead,
so a catalog is never stale and never missing.
"""

from __future__ import annotations

import gettext
import io
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency

CATALOG_DIR = Path(__file__).parent
DEFAULT_LOCALE = "en"

#: How a text names a command when the platform says nothing else.
DEFAULT_COMMANDS = {
    "confirm_command": "/cart confirm",
    "forget_confirm_command": "/cart forget confirm",
}

#: The parameters that pick a plural form, first present wins.
PLURAL_COUNTS = ("n", "count", "minutes")


class _Lenient(dict[str, Any]):
    """Leaves an unknown `{placeholder}` as it is instead of failing a reply."""

    def __missing__(self, key: str) -> str:
        return DEFAULT_COMMANDS.get(key, "{" + key + "}")


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


@cache
def _catalog(chosen: str) -> gettext.NullTranslations:
    """The catalog of a normalised locale, falling back to English."""
    english = load(DEFAULT_LOCALE) or gettext.NullTranslations()
    own = load(chosen) if chosen != DEFAULT_LOCALE else None
    if own is None:
        return english
    own.add_fallback(english)
    return own


def translate(locale: str | None, msgid: str, **params: Any) -> str:
    """The message `msgid` in `locale` with `params` filled in."""
    catalog = _catalog(normalise_locale(locale))
    count = next((params[key] for key in PLURAL_COUNTS if isinstance(params.get(key), int)), None)
    text = msgid
    if count is not None:
        text = catalog.ngettext(msgid, msgid, count)
    if text == msgid:
        text = catalog.gettext(msgid)
    return text.format_map(_Lenient(params))


def minutes(locale: str | None, amount: int) -> str:
    """A span of time for people: `1 minute`, `15 Minuten`."""
    return translate(locale, "duration.minutes", n=amount)


def _known(locale: str | None) -> str:
    chosen = normalise_locale(locale)
    try:
        Locale.parse(chosen)
    except (UnknownLocaleError, ValueError):
        return DEFAULT_LOCALE
    return chosen


def money(cents: int, currency: str, locale: str | None) -> str:
    """A price for people: `$19.99`, `19,99 $`."""
    return str(format_currency(cents / 100, currency, locale=_known(locale)))


def moment(epoch: float, locale: str | None) -> str:
    """A date and time for people, in UTC: `Dec 4, 2026, 5:43:02 PM`, `04.12.2026, 17:43:02`."""
    when = datetime.fromtimestamp(epoch, tz=UTC)
    return f"{format_datetime(when, 'medium', tzinfo=UTC, locale=_known(locale))} UTC"


@cache
def message_ids(locale: str = DEFAULT_LOCALE) -> frozenset[str]:
    """The ids `locale` translates (a plural message counts once, by its singular id)."""
    if not source(locale).is_file():
        return frozenset()
    with source(locale).open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    ids: set[str] = set()
    for message in catalog:
        strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        if message.id and all(strings):
            ids.add(str(message.id[0] if isinstance(message.id, (tuple, list)) else message.id))
    return frozenset(ids)


def source(locale: str) -> Path:
    return CATALOG_DIR / f"{locale}.po"


def compiled(locale: str) -> Path:
    return CATALOG_DIR / f"{locale}.mo"


@cache
def available_locales() -> list[str]:
    return sorted(p.stem for p in CATALOG_DIR.glob("*.po"))


def compile_po(locale: str) -> bytes:
    """The `.mo` bytes of one catalog; untranslated and fuzzy entries are left out."""
    with source(locale).open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def load(locale: str) -> gettext.GNUTranslations | None:
    """A new copy of the catalog of `locale` (no fallback yet), or None when there is none."""
    if not source(locale).is_file():
        return None
    mo = compiled(locale)
    if mo.is_file() and mo.stat().st_mtime >= source(locale).stat().st_mtime:
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    return gettext.GNUTranslations(io.BytesIO(compile_po(locale)))
