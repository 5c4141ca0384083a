"""Slack text in, command parts out: `/cart` arguments and channel messages.

Slack wraps links as `<url|label>` or `<url>` and HTML-escapes `&`, `<` and `>`; everything here
unwraps first so the core's URL helpers see plain URLs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from hashcart import Action, extract_urls

_ANGLED = re.compile(r"<([^<>|]*)(?:\|[^<>]*)?>")
_MAX_QUANTITY = 999

#: Verbs with nothing or a free-form argument after them: each is its action's own name.
_SIMPLE_ACTIONS = {
    action.value: action
    for action in Action
    if action not in (Action.ADD, Action.REMOVE, Action.PRIVACY)
}

#: How a person asks for each action in Slack (`hashcart.Platform.commands`); in a direct
#: message to the bot `/cart` may be left out.
COMMANDS: Mapping[Action, str | None] = {
    Action.ADD: "/cart add <link> [quantity], or :{reaction}: on a message with a product link",
    Action.REMOVE: "/cart remove <link> [quantity]",
    Action.LIST: "/cart list",
    Action.CLEAR: "/cart clear",
    Action.LINK: "/cart link",
    Action.UNLINK: "/cart unlink",
    Action.HELP: "/cart help",
    Action.PRIVACY: "/cart privacy on|off",
    Action.FORGET: "/cart forget, then /cart forget confirm",
    Action.CHECKOUT: "/cart checkout",
    Action.CONFIRM: "/cart confirm",
    Action.LANGUAGE: "/cart language <code>|auto",
}


@dataclass(frozen=True, slots=True)
class Parsed:
    """One `/cart` invocation: the action and what it needs."""

    action: Action
    reference: str | None = None
    quantity: int = 1
    argument: str | None = None


def unwrap(text: str) -> str:
    """Slack markup to plain text: `<url|label>` → url, mentions and channels dropped."""

    def plain(match: re.Match[str]) -> str:
        inner = match.group(1)
        return " " if inner.startswith(("@", "#", "!")) else inner

    unwrapped = _ANGLED.sub(plain, text or "")
    return unwrapped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def urls_in(text: str) -> list[str]:
    return extract_urls(unwrap(text))


def parse_command(text: str) -> Parsed:
    """Read `/cart` arguments; anything unrecognised asks for help rather than guessing."""
    words = unwrap(text).split()
    if not words:
        return Parsed(Action.HELP)
    verb, rest = words[0].lower(), words[1:]
    if verb in ("add", "remove"):
        return _product_command(Action(verb), rest)
    if verb == "privacy":
        setting = rest[0].lower() if rest else ""
        if len(rest) != 1 or setting not in ("on", "off"):
            return Parsed(Action.HELP, argument="privacy")
        return Parsed(Action.PRIVACY, argument=setting)
    action = _SIMPLE_ACTIONS.get(verb)
    if action is None:
        return Parsed(Action.HELP)
    argument = " ".join(rest).lower() or None
    return Parsed(action, argument=argument)


def _product_command(action: Action, words: list[str]) -> Parsed:
    """`add <link|barcode> [qty]` (the quantity may come first); extra words ask for help."""
    reference: str | None = None
    quantity: int | None = None
    for word in words:
        if quantity is None and word.isdigit() and len(word) <= 3:
            quantity = int(word)
        elif reference is None:
            reference = word
        else:
            return Parsed(Action.HELP, argument=action.value)
    if quantity is not None and not 1 <= quantity <= _MAX_QUANTITY:
        return Parsed(Action.HELP, argument=action.value)
    return Parsed(action, reference, quantity or 1)
