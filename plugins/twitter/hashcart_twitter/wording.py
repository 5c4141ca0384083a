"""X's own words for help and for the answers that tell the user what to send next.

`/cart confirm` means nothing on X: the catalog's `{confirm_command}` and
`{forget_confirm_command}` become the tweets that do it. A `#confirm` counts only when addressed
to the bot, so the command names the bot when its handle is configured. Every other answer keeps
the core's wording.
"""

from __future__ import annotations

from hashcart import CartCommand, Host, Outcome, OutcomeCode, ReplyContent
from hashcart_twitter.normalize import PLATFORM
from hashcart_twitter.verbs import CONFIRM_TAG

#: Outcomes whose catalog text asks for a follow-up command.
_ASKS = frozenset(
    {
        OutcomeCode.FORGET_ASKED,
        OutcomeCode.CONFIRM_ADD,
        OutcomeCode.CHECKOUT_ASKED,
        OutcomeCode.PRICES_CHANGED,
    }
)


def format_reply(
    command: CartCommand, outcome: Outcome, locale: str, hashcart: Host, bot_screen_name: str | None
) -> ReplyContent | None:
    hashtag = hashcart.settings.hashtag
    if outcome.code is OutcomeCode.HELP:
        to_bot = f"@{bot_screen_name} " if bot_screen_name else ""
        return ReplyContent(
            hashcart.translate(locale, "reply.help_x", hashtag=hashtag, to_bot=to_bot)
        )
    if outcome.code not in _ASKS:
        return None
    params = {
        "hashtag": hashtag,
        "platform": PLATFORM,
        **outcome.params,
        **x_commands(hashtag, bot_screen_name),
    }
    return ReplyContent(hashcart.translate(locale, f"reply.{outcome.code.value}", **params))


def x_commands(hashtag: str, bot_screen_name: str | None = None) -> dict[str, str]:
    """The catalog's command placeholders as the tweets that do the same on X."""
    to_bot = f"@{bot_screen_name} " if bot_screen_name else ""
    return {
        "confirm_command": f"{to_bot}#{CONFIRM_TAG}",
        "forget_confirm_command": f"#{hashtag} forget confirm",
    }
