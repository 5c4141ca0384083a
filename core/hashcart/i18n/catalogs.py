"""The compiled message catalogs: `<locale>.mo` built from `<locale>.po` beside this file.

`make install` (and so CI) compiles them with `python -m hashcart.i18n`; a checkout or
an sdist without them, or with a `.po` edited since, compiles in memory on first use instead,
so a catalog is never stale and never missing.
"""

from __future__ import annotations

import argparse
import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

CATALOG_DIR = Path(__file__).parent


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Compile the reply catalogs (.po to .mo).")
    parser.add_argument("locales", nargs="*", help="default: every catalog")
    for locale in parser.parse_args(argv).locales or available_locales():
        compiled(locale).write_bytes(compile_po(locale))
        print(f"compiled {compiled(locale).name}")
