"""The default wording of every answer: the message catalog in the user's language."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from hashcart.commands import CartCommand, Outcome
from hashcart.platform import ReplyContent

if TYPE_CHECKING:
    from hashcart.app import Hashcart

hookimpl = pluggy.HookimplMarker("hashcart")


@hookimpl(trylast=True)
def hashcart_format_reply(
    command: CartCommand, outcome: Outcome, locale: str, hashcart: Hashcart
) -> ReplyContent:
    params = {
        "cart_url": hashcart.cart_url,
        "hashtag": hashcart.settings.hashtag,
        "platform": command.platform,
        **outcome.params,
    }
    return ReplyContent(hashcart.translate(locale, f"reply.{outcome.code.value}", **params))
