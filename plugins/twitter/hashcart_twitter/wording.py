"""X's own words for help and for the answers that tell the user what to send next.

The core's catalog says `/cart confirm`, which means nothing on X; here the same sentence (in
the user's language: commands are never translated) names the tweet that does it instead. A
`#confirm` counts only when addressed to the bot, so the sentence names the bot when its handle
is configured. Every other answer keeps the core's wording.
"""

from __future__ import annotations

from hashcart import CartCommand, Host, Outcome, OutcomeCode, ReplyContent
from hashcart_twitter.normalize import PLATFORM
from hashcart_twitter.verbs import CONFIRM_TAG

#: Outcomes whose catalog text asks for a follow-up command.
_ASKS = frozenset({OutcomeCode.FORGET_ASKED, OutcomeCode.CONFIRM_ADD, OutcomeCode.CHECKOUT_ASKED})


def format_reply(
    command: CartCommand,
    outcome: Outcome,
    locale: str,
    hashcart: Host,
    bot_screen_name: str | None,
) -> ReplyContent | None:
    hashtag = hashcart.settings.hashtag
    if outcome.code is OutcomeCode.HELP:
        to_bot = f"@{bot_screen_name} " if bot_screen_name else ""
        return ReplyContent(
            hashcart.translate(locale, "reply.help_x", hashtag=hashtag, to_bot=to_bot)
        )
    if outcome.code not in _ASKS:
        return None
    params = {"hashtag": hashtag, "platform": PLATFORM, **outcome.params}
    text = hashcart.translate(locale, f"reply.{outcome.code.value}", **params)
    return ReplyContent(x_commands(text, hashtag, bot_screen_name))


def x_commands(text: str, hashtag: str, bot_screen_name: str | None = None) -> str:
    """Slash commands in `text` as the tweets that do the same on X."""
    to_bot = f"@{bot_screen_name} " if bot_screen_name else ""
    return text.replace("/cart forget confirm", f"#{hashtag} forget confirm").replace(
        "/cart confirm", f"{to_bot}#{CONFIRM_TAG}"
    )
