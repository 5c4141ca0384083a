from typing import Any

from hashcart import CartCommand, Outcome, OutcomeCode, ReplyContent, hookimpl


@hookimpl
def hashcart_format_reply(
    command: CartCommand, outcome: Outcome, locale: str, hashcart: Any
) -> ReplyContent | None:
    if command.platform != "echo":
        return None  # other platforms keep their own wording
    params = {"cart_url": f"{hashcart.settings.public_url}/cart", **outcome.params}
    text = hashcart.translate(locale, f"reply.{outcome.code.value}", **params)
    if outcome.code is OutcomeCode.ADDED:
        text = f"🛒 {text}"
    return ReplyContent(text, extra={"color": "green" if outcome.ok else "red"})
