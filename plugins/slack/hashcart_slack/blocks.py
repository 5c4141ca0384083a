"""Block Kit wording for Slack: the cart as a small table with a total and a "View cart" button.

Every label comes from the catalog in the user's language, and `text` always carries the core's
sentence too: Slack shows it in notifications and to clients that cannot render blocks.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from babel.core import Locale, UnknownLocaleError
from babel.numbers import format_currency

from hashcart import CartCommand, CartLine, Host, Outcome, OutcomeCode, ReplyContent
from hashcart_slack.settings import SlackSettings

#: Slack allows 50 blocks and 3000 characters per text; a long cart is cut, with a count.
MAX_LINES = 30

#: Outcomes whose text asks for a follow-up command.
_ASKS = frozenset(
    {
        OutcomeCode.FORGET_ASKED,
        OutcomeCode.CONFIRM_ADD,
        OutcomeCode.CHECKOUT_ASKED,
        OutcomeCode.PRICES_CHANGED,
    }
)


def format_reply(
    command: CartCommand, outcome: Outcome, locale: str | None, hashcart: Host
) -> ReplyContent | None:
    settings = hashcart.settings_for(SlackSettings)
    hashtag = hashcart.settings.hashtag
    # The catalog's command placeholders as this app's slash command spells them.
    commands = {
        "command": settings.command,
        "confirm_command": f"{settings.command} confirm",
        "forget_confirm_command": f"{settings.command} forget confirm",
    }
    if outcome.code is OutcomeCode.HELP:  # every way Slack has to use hashcart
        return ReplyContent(
            hashcart.translate(
                locale, "reply.help_slack", hashtag=hashtag, reaction=settings.reaction, **commands
            )
        )
    cart_url = f"{hashcart.settings.public_url}/cart"
    params = {"cart_url": cart_url, "hashtag": hashtag, "platform": "slack", **outcome.params}
    params.update(commands)
    text = hashcart.translate(locale, f"reply.{outcome.code.value}", **params)
    if outcome.cart:
        # The listing itself, and answers that show the cart (checkout, an order placed).
        heading = (
            hashcart.translate(locale, "slack.your_cart")
            if outcome.code is OutcomeCode.LISTED
            else _mrkdwn_escape(text)
        )
        blocks = cart_blocks(outcome.cart, locale, str(params["cart_url"]), hashcart, heading)
        blocks.extend(handoff_blocks(outcome.params.get("handoffs") or [], locale, hashcart))
        return ReplyContent(text, {"blocks": blocks})
    link_url = outcome.params.get("link_url")
    if outcome.code in (OutcomeCode.LINK_NEEDED, OutcomeCode.LINK_SENT) and link_url:
        label = hashcart.translate(locale, "slack.link_account")
        blocks = [_section(_mrkdwn_escape(text)), _actions(_button(label, str(link_url), "link"))]
        return ReplyContent(text, {"blocks": blocks})
    return ReplyContent(text) if outcome.code in _ASKS else None


def cart_blocks(
    lines: tuple[CartLine, ...],
    locale: str | None,
    cart_url: str,
    hashcart: Host,
    heading: str | None = None,
) -> list[Any]:
    shown = lines[:MAX_LINES]
    several = len({_store(line) for line in lines}) > 1
    rows = [
        f"`{line.quantity:>3} ×` {_mrkdwn_escape(line.title)}"
        + (f" _({_mrkdwn_escape(_store(line))})_" if several else "")
        + f" — {money(line.price_cents * line.quantity, line.currency, locale)}"
        for line in shown
    ]
    if len(lines) > len(shown):
        rows.append(hashcart.translate(locale, "slack.more_lines", count=len(lines) - len(shown)))
    count = sum(line.quantity for line in lines)
    totals = _totals(lines, locale)
    return [
        _section(heading or hashcart.translate(locale, "slack.your_cart")),
        _section("\n".join(rows)),
        {"type": "divider"},
        _section(hashcart.translate(locale, "slack.total", count=count, totals=totals)),
        _actions(_button(hashcart.translate(locale, "slack.view_cart"), cart_url, "view_cart")),
    ]


def money(cents: int, currency: str, locale: str | None) -> str:
    try:
        chosen = Locale.parse((locale or "en_US").replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        chosen = Locale.parse("en_US")
    return str(format_currency(cents / 100, currency, locale=chosen))


def _totals(lines: tuple[CartLine, ...], locale: str | None) -> str:
    """One total per currency: a cart may hold products priced in more than one."""
    sums: dict[str, int] = {}
    for line in lines:
        sums[line.currency] = sums.get(line.currency, 0) + line.price_cents * line.quantity
    return " + ".join(money(cents, currency, locale) for currency, cents in sums.items())


def handoff_blocks(handoffs: list[dict[str, str]], locale: str | None, hashcart: Host) -> list[Any]:
    """One "Continue at <store>" button per store that takes the cart into its own cart.

    Slack takes at most 25 buttons in a block, 75 characters per label and 3000 per URL.
    """
    buttons = [
        _button(
            hashcart.translate(locale, "slack.continue_at", label=store["label"])[:75],
            store["url"],
            f"handoff_{index}",
        )
        for index, store in enumerate(handoffs[:25])
        if len(store.get("url", "")) <= 3000
    ]
    return [_actions(*buttons)] if buttons else []


def _store(line: CartLine) -> str:
    """Where a line is bought: its page's host (`amazon.de`), else the store of its id."""
    host = urlsplit(line.url).hostname if line.url else None
    return (host or "").removeprefix("www.") or line.product_id.partition(":")[0]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _actions(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(buttons)}


def _button(label: str, url: str, action_id: str) -> dict[str, Any]:
    text = {"type": "plain_text", "text": label}
    return {"type": "button", "text": text, "url": url, "action_id": action_id}


def _mrkdwn_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
