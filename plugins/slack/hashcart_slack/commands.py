"""Slack payloads in, `CartCommand`s out. Pure functions: no I/O, easy to test.

Event ids (docs/wire-formats.md): a slash command is identified by its `trigger_id`, an Events API
delivery by its envelope's `event_id` (the same on every retry, which is what makes retries safe).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from hashcart import Action, CartCommand, ProductRef, ReplyTarget
from hashcart_slack.parse import Parsed, parse_command, urls_in

PLATFORM = "slack"

#: `ReplyTarget.extra["mode"]` for answers sent with chat.postEphemeral instead of response_url.
EPHEMERAL = "ephemeral"
#: `ReplyTarget.extra["mode"]` for answers posted into the direct-message conversation.
DIRECT = "direct"


def slack_identity(team_id: str, user_id: str) -> str:
    """The user id hashcart keys a Slack person by: `<team_id>:<user_id>`.

    Slack user ids are only unique within a workspace; with the app installed in several
    workspaces, the bare id would let one workspace's member act on another's cart. The reply
    target keeps the bare id, which is what Slack's API addresses.
    """
    return f"{team_id}:{user_id}" if team_id else user_id


def from_slash_command(payload: Mapping[str, Any]) -> CartCommand:
    """`/cart <text>`: the answer goes to the command's `response_url`, seen only by the user.

    Raises `ValueError` for a payload without the fields every slash command carries.
    """
    required = ("user_id", "trigger_id", "response_url")
    if not all(isinstance(payload.get(name), str) and payload[name] for name in required):
        raise ValueError(f"a slash command needs {', '.join(required)}")
    response_url = str(payload["response_url"])
    # Each slash command has a response_url of its own: its answer need not queue behind the
    # user's other answers.
    extra = {"channel_id": str(payload.get("channel_id") or ""), "order_key": response_url}
    return _command(
        payload,
        str(payload["trigger_id"]),
        str(payload["user_id"]),
        response_url,
        extra,
        **asdict(parse_command(str(payload.get("text") or ""))),
        user_name=str(payload.get("user_name") or "") or None,
    )


def from_event(
    body: Mapping[str, Any],
    *,
    action: Action,
    user_id: str,
    channel: str,
    reference: str,
    product: ProductRef | None = None,
    thread_ts: str | None = None,
) -> CartCommand:
    """A channel message or a reaction: the answer is an ephemeral message in that channel.

    Raises `ValueError` for an envelope without its `event_id` (the command's identity).
    """
    extra = {"mode": EPHEMERAL, "thread_ts": thread_ts} if thread_ts else {"mode": EPHEMERAL}
    return _command(
        body,
        _event_id(body),
        user_id,
        channel,
        extra,
        action=action,
        product=product,
        reference=reference,
    )


def from_direct_message(
    body: Mapping[str, Any], event: Mapping[str, Any], command: str = "/cart"
) -> CartCommand:
    """A direct message to the bot (`message.im`) is a `/cart` command without the `/cart`;
    the answer goes back into that conversation."""
    text = strip_command_word(str(event.get("text") or ""), command)
    parsed = parse_command(text)
    links = urls_in(text)
    asks_help = text.lower().split()[:1] == ["help"]
    if parsed.action is Action.HELP and parsed.argument is None and links and not asks_help:
        parsed = Parsed(Action.ADD, links[0])  # a pasted link on its own means "add this"
    return _command(
        body,
        _event_id(body),
        str(event["user"]),
        str(event["channel"]),
        {"mode": DIRECT},
        **asdict(parsed),
    )


def _event_id(body: Mapping[str, Any]) -> str:
    event_id = body.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError("an Events API delivery needs its event_id")
    return event_id


def _command(
    body: Mapping[str, Any],
    event_id: str,
    user_id: str,
    channel: str,
    extra: dict[str, str],
    **fields: Any,
) -> CartCommand:
    """The answer goes privately to the person who asked, through their workspace's token."""
    team_id = str(body.get("team_id") or "")
    extra["team_id"] = team_id
    if body.get("enterprise_id"):
        extra["enterprise_id"] = str(body["enterprise_id"])
    return CartCommand(
        platform=PLATFORM,
        user_id=slack_identity(team_id, user_id),
        event_id=event_id,
        reply_to=ReplyTarget(
            platform=PLATFORM, user=user_id, channel=channel, private=True, extra=extra
        ),
        **fields,
    )


def strip_command_word(text: str, command: str = "/cart") -> str:
    """`/cart add x` or `cart add x` → `add x`: people type the command they know."""
    words = text.split(maxsplit=1)
    if words and words[0].lower().lstrip("/") == command.lower().lstrip("/"):
        return words[1] if len(words) > 1 else ""
    return text


def is_from_bot(event: Mapping[str, Any]) -> bool:
    """Bots, integrations and edits/joins (any subtype) never count as someone asking."""
    return bool(event.get("bot_id") or event.get("subtype") or not event.get("user"))
