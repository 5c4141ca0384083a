"""What Slack sends and signs, built as Slack builds it: signatures, slash command forms and
Events API envelopes."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

_ids = itertools.count(1)


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """The `X-Slack-Signature` value (v0) for a body sent at `timestamp`."""
    raw = body if isinstance(body, bytes) else body.encode()
    base = b"v0:" + str(timestamp).encode() + b":" + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str,
    body: bytes,
    *,
    content_type: str,
    timestamp: int | None = None,
    retry_num: int | None = None,
) -> dict[str, str]:
    """Headers Slack sends with a delivery; a retry adds `X-Slack-Retry-Num` and a fresh stamp."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(secret, ts, body),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def new_trigger_id() -> str:
    return f"{int(time.time() * 1000)}.{next(_ids)}.{secrets.token_hex(16)}"


def new_event_id() -> str:
    return "Ev" + secrets.token_hex(5).upper()


_last_ts = 0


def new_ts() -> str:
    """A message timestamp: unique, increasing, shaped like Slack's `1355517523.000005`."""
    global _last_ts
    _last_ts = max(_last_ts + 1, int(time.time() * 1_000_000))
    return f"{_last_ts // 1_000_000}.{_last_ts % 1_000_000:06d}"


def slash_command_form(
    text: str,
    *,
    response_url: str,
    user_id: str = "U0ALICE",
    user_name: str = "alice",
    team_id: str = "T0001",
    channel_id: str = "C0GENERAL",
    command: str = "/cart",
    trigger_id: str | None = None,
) -> bytes:
    """The form-encoded body of a slash command, field for field as Slack sends it."""
    fields = {
        "token": "standin-verification-token",
        "team_id": team_id,
        "team_domain": "standin",
        "channel_id": channel_id,
        "channel_name": "general",
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": "A0HASHCART",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }
    return urlencode(fields).encode()


def url_verification(challenge: str) -> bytes:
    return json.dumps(
        {"token": "standin-verification-token", "challenge": challenge, "type": "url_verification"}
    ).encode()


def message_event(
    text: str,
    *,
    user: str | None = "U0ALICE",
    channel: str = "C0GENERAL",
    bot_id: str | None = None,
    subtype: str | None = None,
    thread_ts: str | None = None,
    channel_type: str = "channel",
) -> dict[str, Any]:
    """A `message` event as a user (or, with `bot_id`/`subtype`, a bot) posts it in a channel."""
    stamp = new_ts()
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "text": text,
        "ts": stamp,
        "event_ts": stamp,
        "channel_type": channel_type,
        "team": "T0001",
    }
    optional = {"user": user, "subtype": subtype, "thread_ts": thread_ts}
    event.update({name: value for name, value in optional.items() if value is not None})
    if bot_id is not None:
        event["bot_id"] = bot_id
        event["app_id"] = "A0OTHERAPP"
    elif subtype is None:
        event["client_msg_id"] = secrets.token_hex(8)
    return event


def direct_message_event(
    text: str, *, user: str = "U0ALICE", channel: str = "D0ALICE", **kwargs: Any
) -> dict[str, Any]:
    """A `message.im` event: someone writes to the bot in their direct-message conversation."""
    return message_event(text, user=user, channel=channel, channel_type="im", **kwargs)


def app_uninstalled_event() -> dict[str, Any]:
    """`app_uninstalled`: the envelope's `team_id` says which workspace removed the app."""
    return {"type": "app_uninstalled", "event_ts": new_ts()}


def tokens_revoked_event(*, bot: list[str]) -> dict[str, Any]:
    """`tokens_revoked`: the user ids whose bot tokens were revoked."""
    return {"type": "tokens_revoked", "tokens": {"bot": list(bot)}, "event_ts": new_ts()}


def reaction_event(
    *,
    channel: str,
    ts: str,
    user: str = "U0ALICE",
    reaction: str = "shopping_trolley",
    removed: bool = False,
) -> dict[str, Any]:
    """A `reaction_added` (or `reaction_removed`) event on the message at `channel`/`ts`."""
    return {
        "type": "reaction_removed" if removed else "reaction_added",
        "user": user,
        "reaction": reaction,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "item_user": "U0BOB",
        "event_ts": new_ts(),
    }


def event_callback(
    event: Mapping[str, Any],
    *,
    event_id: str | None = None,
    team_id: str = "T0001",
    bot_user_id: str = "U0BOT",
) -> bytes:
    """The Events API envelope around one event, as JSON bytes ready to sign."""
    envelope = {
        "token": "standin-verification-token",
        "team_id": team_id,
        "api_app_id": "A0HASHCART",
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_hex(12),
    }
    return json.dumps(envelope).encode()
