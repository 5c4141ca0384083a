"""An account's language (`/cart language`, the cart page): it wins over the locale a platform
reports, for every answer; no choice lets each platform's locale decide again."""

from __future__ import annotations

import sqlalchemy as sa
from babel import Locale
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.i18n import available_locales
from hashcart.store.schema import accounts

#: What clears the choice, besides no code at all.
AUTO = "auto"


def chosen_language(code: str | None) -> str | None:
    """The catalog `code` names (`de`, `DE`, `de-AT` all name `de`), `""` for no choice, or
    None when no catalog matches."""
    wanted = (code or "").strip().replace("-", "_")
    if not wanted or wanted.lower() == AUTO:
        return ""
    known = available_locales()
    for candidate in (wanted, wanted.split("_")[0].lower()):
        if candidate in known:
            return candidate
    return None


def language_name(code: str) -> str:
    """The language as its speakers call it: `Deutsch`, `English`."""
    return str(Locale.parse(code).get_display_name(code) or code)


def offered() -> list[dict[str, str]]:
    return [{"code": code, "name": language_name(code)} for code in available_locales()]


def offered_text() -> str:
    """`de (Deutsch), en (English)`: for a refusal that lists what may be chosen."""
    return ", ".join(f"{choice['code']} ({choice['name']})" for choice in offered())


async def set_language(engine: AsyncEngine, account_id: str, language: str | None) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(accounts).where(accounts.c.id == account_id).values(language=language)
        )
