"""Discord's own words for help (Discord adds by reaction and has fewer `/cart` sub-commands
than the core's sentence names) and for the one answer whose next step is typed differently here.

On Discord `confirm` is a yes/no option of `/cart forget`, which the client shows as
`confirm: True`: that is the catalog's `{forget_confirm_command}` here. Every other answer keeps
the core's wording (`/cart confirm` is a Discord sub-command as it stands).
"""

from __future__ import annotations

from hashcart import CartCommand, Host, Outcome, OutcomeCode, ReplyContent
from hashcart_discord.settings import DiscordSettings, EmojiSpec

#: How a Discord user types the commands the catalog's texts ask for.
COMMANDS = {
    "confirm_command": "/cart confirm",
    "forget_confirm_command": "/cart forget confirm: True",
}


def format_reply(
    command: CartCommand, outcome: Outcome, locale: str, hashcart: Host
) -> ReplyContent | None:
    if outcome.code is OutcomeCode.HELP:
        spec = EmojiSpec.parse(hashcart.settings_for(DiscordSettings).emoji)
        emoji = spec.name if spec.id is None else f"<:{spec.name}:{spec.id}>"
        return ReplyContent(hashcart.translate(locale, "reply.help_discord", emoji=emoji))
    if outcome.code is not OutcomeCode.FORGET_ASKED:
        return None
    params = {**outcome.params, **COMMANDS}
    return ReplyContent(hashcart.translate(locale, f"reply.{outcome.code.value}", **params))
