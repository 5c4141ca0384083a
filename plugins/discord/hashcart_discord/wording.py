"""Discord's own words for help (Discord adds by reaction and has fewer `/cart` sub-commands
than the core's sentence names) and for the one answer whose next step is typed differently here.

The core's catalog says `/cart forget confirm`; on Discord `confirm` is a yes/no option of
`/cart forget`, which the client shows as `confirm: True`. Commands are never translated, so
the same replacement works in every language. Every other answer keeps the core's wording
(`/cart confirm` is a Discord sub-command as it stands).
"""

from __future__ import annotations

from hashcart import CartCommand, Host, Outcome, OutcomeCode, ReplyContent
from hashcart_discord.settings import DiscordSettings, EmojiSpec

CORE_FORGET_CONFIRM = "/cart forget confirm"
DISCORD_FORGET_CONFIRM = "/cart forget confirm: True"


def format_reply(
    command: CartCommand, outcome: Outcome, locale: str, hashcart: Host
) -> ReplyContent | None:
    if outcome.code is OutcomeCode.HELP:
        spec = EmojiSpec.parse(hashcart.settings_for(DiscordSettings).emoji)
        emoji = spec.name if spec.id is None else f"<:{spec.name}:{spec.id}>"
        return ReplyContent(hashcart.translate(locale, "reply.help_discord", emoji=emoji))
    if outcome.code is not OutcomeCode.FORGET_ASKED:
        return None
    text = hashcart.translate(locale, f"reply.{outcome.code.value}", **outcome.params)
    return ReplyContent(text.replace(CORE_FORGET_CONFIRM, DISCORD_FORGET_CONFIRM))
