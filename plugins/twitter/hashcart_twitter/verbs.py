"""What a tweet asks for, read from its hashtags and words; the product is chosen elsewhere.

A tweet has no command line, so the words are kept few and close to the hashtag (`COMMANDS`).
`#checkout` and `#confirm` stand on their own (as in Pay by Tweet) but count only when addressed
to the bot; when one tweet holds both, it is a checkout, so nothing is ever ordered without a
second, separate tweet.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hashcart import Action, extract_barcodes

CHECKOUT_TAG = "checkout"
CONFIRM_TAG = "confirm"

#: Answers about a person's data, orders and payment go by DM, never into a public thread.
PRIVATE_ACTIONS = frozenset({Action.CHECKOUT, Action.CONFIRM, Action.FORGET, Action.PRIVACY})

#: How a person asks for each action on X (`hashcart.Platform.commands`).
COMMANDS: Mapping[Action, str | None] = {
    Action.ADD: "#{hashtag} in a post with a product link, or in a reply to or quote of one",
    Action.REMOVE: None,
    Action.LIST: None,
    Action.CLEAR: None,
    Action.LINK: None,
    Action.UNLINK: None,
    Action.HELP: "#{hashtag} help",
    Action.PRIVACY: "#{hashtag} privacy on|off",
    Action.FORGET: "#{hashtag} forget, then #{hashtag} forget confirm",
    Action.CHECKOUT: "#checkout in a reply to or mention of the bot",
    Action.CONFIRM: "#confirm in a reply to or mention of the bot",
    Action.LANGUAGE: "#{hashtag} language <code>|auto",
}

_MENTION = re.compile(r"(?<![\w@])@\w{1,15}")
_URL = re.compile(r"https?://\S+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Verb:
    action: Action
    argument: str | None = None

    @property
    def private(self) -> bool:
        return self.action in PRIVATE_ACTIONS


#: Any tweet with the trigger hashtag and no other verb.
ADD = Verb(Action.ADD)


def choose_verb(
    text: str, hashtag: str, *, has_tag: Callable[[str], bool], to_bot: bool
) -> Verb | None:
    """The verb of a tweet, or None; `has_tag(tag)` says whether it carries `#tag` (entities or
    text), `to_bot` whether it replies to or mentions the bot."""
    if to_bot and has_tag(CHECKOUT_TAG):
        return Verb(Action.CHECKOUT)
    if to_bot and has_tag(CONFIRM_TAG):
        return Verb(Action.CONFIRM)
    if not has_tag(hashtag):
        return None
    return words_after(text, hashtag) or ADD


def words_after(text: str, hashtag: str) -> Verb | None:
    """`forget [confirm]`, `privacy [on|off]`, `language [code]` or `help` right after the
    trigger hashtag."""
    pattern = rf"(?<![\w#])#{re.escape(hashtag)}(?!\w)\s+(\w+)(?:\s+([\w-]+))?"
    normalised = unicodedata.normalize("NFKC", text or "")
    match = re.search(pattern, normalised, re.IGNORECASE)
    if match is None:
        return None
    word = match.group(1).casefold()
    after = (match.group(2) or "").casefold()
    if word == "forget":
        return Verb(Action.FORGET, "confirm" if after == "confirm" else None)
    if word == "help":
        return Verb(Action.HELP)
    if word == "privacy":
        # Without on/off the core answers with the current choice.
        return Verb(Action.PRIVACY, after if after in ("on", "off") else None)
    if word == "language":
        # Without a code the core goes back to the platform's language.
        return Verb(Action.LANGUAGE, after or None)
    return None


def barcodes_in(text: str) -> tuple[str, ...]:
    """Barcode-shaped numbers in the tweet's own words; @handles and links are not words."""
    words = _URL.sub(" ", _MENTION.sub(" ", text or ""))
    return tuple(extract_barcodes(words))
