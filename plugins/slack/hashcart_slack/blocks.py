"""Block Kit wording for Slack: the cart as a small table with a total and a "View cart" button.

Only the cart listing and the linking answers gain structure, and help lists Slack's own ways;
every other answer keeps the core's one sentence. `text` always carries that sentence too: Slack
shows it in notifications and to clients that cannot render blocks.
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


def format_reply(
    command: CartCommand, outcome: Outcome, locale: str | None, hashcart: Host
) -> ReplyContent | None:
    cart_url = f"{hashcart.settings.public_url}/cart"
    params = {"cart_url": cart_url, "hashtag": hashcart.settings.hashtag, "platform": "slack"}
    params.update(outcome.params)
    if outcome.code is OutcomeCode.HELP:
        return ReplyContent(help_text(locale, hashcart))
    text = hashcart.translate(locale, f"reply.{outcome.code.value}", **params)
    if outcome.cart:
        # The listing itself, and answers that show the cart (checkout, an order placed).
        heading = "*Your cart*" if outcome.code is OutcomeCode.LISTED else _mrkdwn_escape(text)
        blocks = cart_blocks(outcome.cart, locale, str(params["cart_url"]), heading)
        blocks.extend(handoff_blocks(outcome.params.get("handoffs") or []))
        return ReplyContent(text, {"blocks": blocks})
    link_url = outcome.params.get("link_url")
    if outcome.code in (OutcomeCode.LINK_NEEDED, OutcomeCode.LINK_SENT) and link_url:
        blocks = [_section(_mrkdwn_escape(text)), _button("Link account", str(link_url), "link")]
        return ReplyContent(text, {"blocks": blocks})
    return None


def help_text(locale: str | None, hashcart: Host) -> str:
    """Every way Slack has to use hashcart; the command is named as this app configured it."""
    settings = hashcart.settings_for(SlackSettings)
    text = hashcart.translate(
        locale, "reply.help_slack", hashtag=hashcart.settings.hashtag, reaction=settings.reaction
    )
    return text if settings.command == "/cart" else text.replace("/cart", settings.command)


def cart_blocks(
    lines: tuple[CartLine, ...], locale: str | None, cart_url: str, heading: str = "*Your cart*"
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
        rows.append(f"…and {len(lines) - len(shown)} more")
    count = sum(line.quantity for line in lines)
    totals = _totals(lines, locale)
    return [
        _section(heading),
        _section("\n".join(rows)),
        {"type": "divider"},
        _section(f"*Total* ({count} {'item' if count == 1 else 'items'}): *{totals}*"),
        _button("View cart", cart_url, "view_cart"),
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


def handoff_blocks(handoffs: list[dict[str, str]]) -> list[Any]:
    """One "Continue at <store>" button per store that takes the cart into its own cart.

    Slack takes at most 25 buttons in a block, 75 characters per label and 3000 per URL.
    """
    buttons = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": f"Continue at {store['label']}"[:75]},
            "url": store["url"],
            "action_id": f"handoff_{index}",
        }
        for index, store in enumerate(handoffs[:25])
        if len(store.get("url", "")) <= 3000
    ]
    return [{"type": "actions", "elements": buttons}] if buttons else []


def _store(line: CartLine) -> str:
    """Where a line is bought: its page's host (`amazon.de`), else the store of its id."""
    host = urlsplit(line.url).hostname if line.url else None
    return (host or "").removeprefix("www.") or line.product_id.partition(":")[0]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _button(label: str, url: str, action_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": label},
                "url": url,
                "action_id": action_id,
            }
        ],
    }


def _mrkdwn_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
