"""`language <code>`: the account's answers in that language, whatever the platform reports;
`language` alone or `language auto` gives the platform's locale back."""

from babel import Locale

from hashcart.actions.base import Context, handles
from hashcart.commands import Action, Outcome, OutcomeCode
from hashcart.i18n import available_locales

#: What clears the choice, besides no argument at all.
AUTO = "auto"


def chosen_language(argument: str | None) -> str | None:
    """The catalog `argument` names (`de`, `DE`, `de-AT` all name `de`), `""` for clearing, or
    None when no catalog matches."""
    wanted = (argument or "").strip().replace("-", "_")
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


def languages() -> str:
    return ", ".join(f"{code} ({language_name(code)})" for code in available_locales())


@handles(
    Action.LANGUAGE,
    OutcomeCode.LANGUAGE_SET, OutcomeCode.LANGUAGE_CLEARED, OutcomeCode.LANGUAGE_UNKNOWN,
)  # fmt: skip
async def language(ctx: Context) -> Outcome:
    account = ctx.linked
    chosen = chosen_language(ctx.command.argument)
    if chosen is None:
        return Outcome(
            OutcomeCode.LANGUAGE_UNKNOWN,
            {
                "language": (ctx.command.argument or "").strip()[:35],
                "languages": languages(),
            },
        )
    account.language = chosen or None
    ctx.group.languages[account.id] = account.language
    if account.language is None:
        return Outcome(OutcomeCode.LANGUAGE_CLEARED)
    return Outcome(
        OutcomeCode.LANGUAGE_SET,
        {"language": account.language, "language_name": language_name(account.language)},
    )
