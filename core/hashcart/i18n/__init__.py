"""Reply texts from gettext catalogs (`<locale>.po` beside this file), keyed by message id.

Catalog entries use `{name}` placeholders. A locale is matched exactly (`pt_BR`), then by its
language (`pt`), then falls back to English; a message missing from a catalog falls back too.

A message with plural forms (`msgid_plural`) is chosen by a number: the `n` parameter, else the
message's own `count` or `minutes`. Commands a text asks the user to send are placeholders
(`{confirm_command}`, `{forget_confirm_command}`): each platform fills them in
as its users type them, and `/cart …` is what they say when it does not.
"""

from __future__ import annotations

import gettext
from functools import cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po
from babel.numbers import format_currency

from hashcart.i18n.catalogs import available_locales as available_locales
from hashcart.i18n.catalogs import load, source

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


def money(cents: int, currency: str, locale: str | None) -> str:
    """A price for people: `$19.99`, `19,99 $`."""
    chosen = normalise_locale(locale)
    try:
        Locale.parse(chosen)
    except (UnknownLocaleError, ValueError):
        chosen = DEFAULT_LOCALE
    return str(format_currency(cents / 100, currency, locale=chosen))


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
