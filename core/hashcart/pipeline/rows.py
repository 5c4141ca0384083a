"""The rows a command leaves behind: its event and the outbox row of its answer."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hashcart.commands import CartCommand, Outcome, OutcomeCode, ReplyTarget
from hashcart.i18n import normalise_locale
from hashcart.pipeline.prepared import Account, locale_of
from hashcart.platform import ReplyContent

if TYPE_CHECKING:
    from hashcart.app import Hashcart

Row = dict[str, Any]


def event_row(command: CartCommand, account: Account | None, outcome: Outcome, now: float) -> Row:
    product_id = command.product.product_id if command.product else None
    erased = outcome.code is OutcomeCode.FORGOTTEN
    return {
        "event_key": command.event_key,
        "platform": command.platform,
        "user_id": None if erased else command.user_id,
        "account_id": None if erased or account is None else account.id,
        "action": command.action.value,
        "product_id": product_id or outcome.params.get("product_id"),
        "outcome": outcome.code.value,
        "detail": None if erased else (command.reference or "")[:500] or None,
        "created_at": now,
    }


def settled_row(command: CartCommand, account: Account | None, outcome: Outcome, now: float) -> Row:
    """The claimed event's row completed with what became of the command."""
    row = event_row(command, account, outcome, now)
    return {
        "b_event_key": row["event_key"],
        "user_id": row["user_id"],
        "account_id": row["account_id"],
        "product_id": row["product_id"],
        "outcome": row["outcome"],
        "detail": row["detail"],
    }


def plain_reply_row(command: CartCommand, outcome: Outcome, text: str, now: float) -> Row:
    """A reply that bypasses the wording hooks: they may be what keeps failing."""
    return queued(command.event_key, command.reply_to, text, {}, outcome, now)


async def reply_row(
    hashcart: Hashcart, command: CartCommand, account: Account | None, outcome: Outcome,
    now: float,
) -> Row:  # fmt: skip
    """The outbox row answering `command`, worded by the plugins in the account's language."""
    private = command.reply_to.private or (account.dm_only if account else False)
    target = replace(command.reply_to, private=private)
    locale = normalise_locale(locale_of(account, command))
    content: ReplyContent = await hashcart.plugins.first(
        "hashcart_format_reply",
        command=command,
        outcome=outcome,
        locale=locale,
        hashcart=hashcart,
    )
    extra = dict(content.extra)
    if private:
        # A platform that must fall back to a public place uses this: it names no product.
        configured = hashcart.settings.public_reply
        public = configured or hashcart.translate(locale, "reply.private_public")
        extra.setdefault("public_text", public)
    return queued(command.event_key, target, content.text, extra, outcome, now, locale)


def queued(
    event_key: str,
    target: ReplyTarget,
    text: str,
    extra: dict[str, Any],
    outcome: Outcome,
    now: float,
    locale: str | None = None,
) -> Row:
    """An outbox row, due at once."""
    return {
        "event_key": event_key,
        "platform": target.platform,
        "recipient": recipient(target),
        "target": {**target.to_json(), "locale": locale},
        "text": text,
        "extra": extra,
        "outcome": outcome.to_json(),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": None,
        "last_error": None,
        "sent_at": None,
        "created_at": now,
    }


def fitted(table: sa.Table, row: Row) -> Row:
    """`row` with every string cut to its column's length."""
    fitted = dict(row)
    for name, value in row.items():
        length = getattr(table.c[name].type, "length", None) if name in table.c else None
        if isinstance(value, str) and length is not None:
            fitted[name] = value[:length]
    return fitted


def recipient(target: ReplyTarget) -> str:
    """What a reply is kept in order with: the user, or the plugin's `order_key` (hashed when
    it is longer than the column, as a URL is)."""
    key = target.extra.get("order_key") or target.user
    return key if len(key) <= 64 else hashlib.sha256(key.encode()).hexdigest()
