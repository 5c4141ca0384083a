"""What the Mastodon stand-in holds: accounts, statuses and notifications, rendered as Mastodon
renders them."""

from __future__ import annotations

import html
import itertools
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_MENTION = re.compile(r"(?<![\w@/])@(\w+)(?:@([\w.-]+\.\w+))?")
_HASHTAG = re.compile(r"(?<![\w#&/])#(\w+)")
_URL = re.compile(r"https?://[^\s<>\"]+")

_status_ids = itertools.count(1)
_notification_ids = itertools.count(34_975_861)


def _status_id() -> str:
    """Mastodon's ids: milliseconds shifted left 16 bits plus a sequence, as a string."""
    return str((int(time.time() * 1000) << 16) | (next(_status_ids) & 0xFFFF))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    username: str
    domain: str
    local: bool
    bot: bool = False

    @property
    def acct(self) -> str:
        """`alice` for a local account, `alice@other.example` for a remote one."""
        return self.username if self.local else f"{self.username}@{self.domain}"

    @property
    def url(self) -> str:
        return f"https://{self.domain}/@{self.username}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "acct": self.acct,
            "display_name": self.username.capitalize(),
            "locked": False,
            "bot": self.bot,
            "discoverable": True,
            "group": False,
            "created_at": "2023-01-01T00:00:00.000Z",
            "note": "",
            "url": self.url,
            "avatar": f"https://{self.domain}/avatars/original/missing.png",
            "header": f"https://{self.domain}/headers/original/missing.png",
            "followers_count": 3,
            "following_count": 5,
            "statuses_count": 42,
            "emojis": [],
            "fields": [],
        }


@dataclass(frozen=True, slots=True)
class Status:
    id: str
    account: Account
    text: str
    visibility: str
    in_reply_to: Status | None
    mentions: tuple[Account, ...]
    tags: tuple[str, ...]
    language: str | None
    created_at: str
    local_domain: str

    @property
    def content(self) -> str:
        return status_html(self.text, self.mentions, self.local_domain)

    @property
    def url(self) -> str:
        return f"{self.account.url}/{self.id}"

    def to_json(self) -> dict[str, Any]:
        parent = self.in_reply_to
        return {
            "id": self.id,
            "created_at": self.created_at,
            "in_reply_to_id": parent.id if parent else None,
            "in_reply_to_account_id": parent.account.id if parent else None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": self.visibility,
            "language": self.language,
            "uri": f"https://{self.account.domain}/users/{self.account.username}/statuses/{self.id}",
            "url": self.url,
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "content": self.content,
            "reblog": None,
            "application": None,
            "account": self.account.to_json(),
            "media_attachments": [],
            "mentions": [
                {"id": m.id, "username": m.username, "url": m.url, "acct": m.acct}
                for m in self.mentions
            ],
            "tags": [
                {"name": tag.lower(), "url": f"https://{self.local_domain}/tags/{tag.lower()}"}
                for tag in self.tags
            ],
            "emojis": [],
            "card": None,
            "poll": None,
        }


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    type: str
    account: Account
    status: Status | None
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "created_at": self.created_at,
            "account": self.account.to_json(),
            "status": self.status.to_json() if self.status else None,
        }


def status_html(text: str, mentions: Sequence[Account], local_domain: str) -> str:
    """The HTML Mastodon renders for a plain-text status: mentions and hashtags become links,
    and a URL's visible text is shortened (so only the `href` holds the whole URL)."""
    by_handle = {m.username.lower(): m for m in mentions}
    by_handle.update({m.acct.lower(): m for m in mentions})
    pieces: list[str] = []
    position = 0
    pattern = re.compile(f"{_URL.pattern}|{_MENTION.pattern}|{_HASHTAG.pattern}")
    for match in pattern.finditer(text):
        pieces.append(html.escape(text[position : match.start()]))
        position = match.end()
        token = match.group(0)
        if token.startswith("http"):
            pieces.append(_link_html(token))
        elif token.startswith("@"):
            handle = token[1:].lower()
            account = by_handle.get(handle)
            if account is None:
                pieces.append(html.escape(token))
                continue
            pieces.append(
                f'<span class="h-card" translate="no"><a href="{account.url}" '
                f'class="u-url mention">@<span>{html.escape(account.username)}</span></a></span>'
            )
        else:
            tag = token[1:]
            pieces.append(
                f'<a href="https://{local_domain}/tags/{tag.lower()}" class="mention hashtag" '
                f'rel="tag">#<span>{html.escape(tag)}</span></a>'
            )
    pieces.append(html.escape(text[position:]))
    paragraphs = "".join(pieces).split("\n\n")
    return "".join(f"<p>{p.replace(chr(10), '<br />')}</p>" for p in paragraphs)


def _link_html(url: str) -> str:
    scheme, _, rest = url.partition("://")
    prefix = f"{scheme}://"
    if rest.startswith("www."):
        prefix, rest = prefix + "www.", rest[4:]
    shown, hidden = rest[:30], rest[30:]
    ellipsis = "ellipsis" if hidden else ""
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener noreferrer" '
        f'translate="no"><span class="invisible">{html.escape(prefix)}</span>'
        f'<span class="{ellipsis}">{html.escape(shown)}</span>'
        f'<span class="invisible">{html.escape(hidden)}</span></a>'
    )


@dataclass(slots=True)
class _Fault:
    method: str
    path: str
    status: int
    remaining: int
    reset_seconds: float

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and path.startswith(self.path)


@dataclass(frozen=True, slots=True)
class ApiCall:
    method: str
    path: str
