"""`language <code>`: the account's answers in that language, whatever the platform reports;
`language` alone or `language auto` gives the platform's locale back."""

from hashcart.account_language import chosen_language, language_name, offered_text
from hashcart.actions.base import Context, handles
from hashcart.commands import Action, Outcome, OutcomeCode


@handles(
    Action.LANGUAGE,
    OutcomeCode.LANGUAGE_SET, OutcomeCode.LANGUAGE_CLEARED, OutcomeCode.LANGUAGE_UNKNOWN,
)  # fmt: skip
async def language(ctx: Context) -> Outcome:
    account = ctx.linked
    asked = (ctx.command.argument or "").strip()
    chosen = chosen_language(asked)
    if chosen is None:
        return Outcome(
            OutcomeCode.LANGUAGE_UNKNOWN, {"language": asked[:35], "languages": offered_text()}
        )
    account.language = chosen or None
    ctx.group.languages[account.id] = account.language
    if account.language is None:
        return Outcome(OutcomeCode.LANGUAGE_CLEARED)
    return Outcome(
        OutcomeCode.LANGUAGE_SET,
        {"language": account.language, "language_name": language_name(account.language)},
    )
