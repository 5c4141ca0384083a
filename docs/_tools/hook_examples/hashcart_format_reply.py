from hashcart import (
    CartCommand,
    Host,
    Outcome,
    OutcomeCode,
    ReplyContent,
    for_platform,
    hookimpl,
)


@hookimpl
@for_platform("echo")  # called only for commands from "echo"; others keep their own wording
def hashcart_format_reply(
    command: CartCommand, outcome: Outcome, locale: str, hashcart: Host
) -> ReplyContent | None:
    params = {"cart_url": f"{hashcart.settings.public_url}/cart", **outcome.params}
    text = hashcart.translate(locale, f"reply.{outcome.code.value}", **params)
    if outcome.code is OutcomeCode.ADDED:
        text = f"🛒 {text}"
    return ReplyContent(text, extra={"color": "green" if outcome.ok else "red"})
