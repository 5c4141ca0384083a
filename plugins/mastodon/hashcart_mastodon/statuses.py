"""Read Mastodon statuses into `CartCommand`s and word the answer, with no I/O.

A status's `content` is HTML: mentions and hashtags are links too, and a URL's visible text is
shortened, so product links are taken from the `href` of the links that are neither.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from hashcart import Action, CartCommand, ProductRef, ReplyTarget, has_hashtag

PLATFORM = "mastodon"
CHARACTER_LIMIT = 500
#: Visibilities whose conversation is not public: the answer goes as a direct mention.
PRIVATE_VISIBILITIES = frozenset({"private", "direct"})

Json = Mapping[str, Any]


class _Content(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.text.append("\n")
        if tag != "a":
            return
        values = dict(attrs)
        classes = (values.get("class") or "").split()
        href = values.get("href") or ""
        if "mention" in classes or "hashtag" in classes or values.get("rel") == "tag":
            return
        if href.lower().startswith(("http://", "https://")):
            self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.text.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read_content(content: str) -> tuple[tuple[str, ...], str]:
    """The links a person put into a status (in order, once each) and its plain text."""
    parser = _Content()
    parser.feed(content)
    parser.close()
    return tuple(dict.fromkeys(parser.links)), "".join(parser.text).strip()


def has_tag(status: Json, hashtag: str) -> bool:
    wanted = hashtag.casefold()
    tags = status.get("tags")
    for tag in tags if isinstance(tags, list) else ():
        if isinstance(tag, Mapping) and str(tag.get("name", "")).casefold() == wanted:
            return True
    return has_hashtag(read_content(str(status.get("content") or ""))[1], hashtag)


def status_links(status: Json) -> tuple[str, ...]:
    links = list(read_content(str(status.get("content") or ""))[0])
    card = status.get("card")
    if isinstance(card, Mapping) and isinstance(card.get("url"), str):
        links.append(str(card["url"]))
    return tuple(dict.fromkeys(links))


@dataclass(frozen=True, slots=True)
class Trigger:
    """A status that asks hashcart for something, before its product link has been chosen."""

    status_id: str
    account_id: str
    acct: str
    visibility: str
    locale: str | None
    is_bot: bool
    links: tuple[str, ...]
    parent_id: str | None
    #: `#amazoncart help`, `#amazoncart language de`: what the status asks for, when it is not
    #: to add.
    verb: Action = Action.ADD
    argument: str | None = None

    def command(self, reference: str | None, product: ProductRef | None = None) -> CartCommand:
        """The command this status stands for; the status id makes redeliveries harmless."""
        extra = {"acct": self.acct, "visibility": self.visibility}
        if self.locale:
            extra["language"] = self.locale
        return CartCommand(
            platform=PLATFORM,
            user_id=self.account_id,
            action=self.verb,
            event_id=self.status_id,
            reply_to=ReplyTarget(
                platform=PLATFORM,
                user=self.account_id,
                channel=self.status_id,
                private=self.visibility in PRIVATE_VISIBILITIES,
                extra=extra,
            ),
            product=product,
            reference=reference,
            argument=self.argument,
            user_name=self.acct,
            locale=self.locale,
            is_bot=self.is_bot,
        )


def trigger_from(notification: Json, *, hashtag: str, bot_id: str | None) -> Trigger | None:
    """The trigger in a mention notification, or None for the bot's own statuses, boosts and
    statuses without the hashtag; a `ValueError` for an unreadable payload."""
    if notification.get("type") != "mention":
        return None
    status = notification.get("status")
    if not isinstance(status, Mapping):
        return None
    account = status.get("account")
    if not isinstance(account, Mapping) or not status.get("id") or not account.get("id"):
        raise ValueError(f"notification {notification.get('id')!r}: status without id or account")
    account_id = str(account["id"])
    if account_id == bot_id or status.get("reblog") is not None:
        return None
    if not has_tag(status, hashtag):
        return None
    language = status.get("language")
    verb, argument = verb_of(read_content(str(status.get("content") or ""))[1], hashtag)
    return Trigger(
        status_id=str(status["id"]),
        account_id=account_id,
        acct=str(account.get("acct") or account.get("username") or account_id),
        visibility=str(status.get("visibility") or "public"),
        locale=str(language) if isinstance(language, str) and language else None,
        is_bot=account.get("bot") is True,
        links=status_links(status),
        parent_id=str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None,
        verb=verb,
        argument=argument,
    )


#: How a person asks for each action on Mastodon (`hashcart.Platform.commands`).
COMMANDS: Mapping[Action, str | None] = {
    Action.ADD: "@bot #{hashtag} with a product link, or in a reply to a post with one",
    Action.REMOVE: None,
    Action.LIST: None,
    Action.CLEAR: None,
    Action.LINK: None,
    Action.UNLINK: None,
    Action.HELP: "@bot #{hashtag} help",
    Action.PRIVACY: None,
    Action.FORGET: None,
    Action.CHECKOUT: None,
    Action.CONFIRM: None,
    Action.LANGUAGE: "@bot #{hashtag} language <code>|auto",
}


def verb_of(text: str, hashtag: str) -> tuple[Action, str | None]:
    """`#amazoncart help` or `#amazoncart language [code]`: the words right after the trigger
    hashtag; anything else asks to add."""
    pattern = rf"(?<![\w#])#{re.escape(hashtag)}(?!\w)\s+(help|language)\b(?:[ \t]+([\w-]+))?"
    match = re.search(pattern, text, re.IGNORECASE)
    if match is None:
        return Action.ADD, None
    if match.group(1).lower() == "help":
        return Action.HELP, None
    return Action.LANGUAGE, match.group(2)


def reply_visibility(target: ReplyTarget) -> str:
    """Private conversations stay private; public ones keep the asking status's visibility."""
    if target.private:
        return "direct"
    asked = target.extra.get("visibility", "public")
    return asked if asked in ("public", "unlisted") else "direct"


def reply_text(acct: str | None, text: str, limit: int = CHARACTER_LIMIT) -> str:
    """`@acct text`, cut to Mastodon's limit (the mention is what addresses the answer)."""
    prefix = f"@{acct} " if acct else ""
    full = prefix + text
    if len(full) <= limit:
        return full
    return full[: limit - 1].rstrip() + "…"
