"""Slack request bodies checked before Bolt reads them: a malformed one is a 400, never a 500.

Bolt parses the body before it checks the signature and trusts every field's type, so a body
that is not JSON, or JSON of another shape than Slack's, escapes from it as an exception. Here
the body is read the way Bolt reads it and held against the shapes Slack sends and the
listeners rely on. A request that fails is answered 401 when its signature is wrong (a stranger
learns nothing about the checks) and 400 with the reason when it is signed; nothing is applied.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
#: Slack's own replay window, the one Bolt applies too.
_MAX_AGE = 5 * 60  # seconds

_TEXT_OR_OBJECT = (str, dict)

#: Types of the top-level fields Bolt or the listeners read, where present.
_BODY_FIELDS: Mapping[str, type | tuple[type, ...]] = {
    **dict.fromkeys(
        ("type", "token", "challenge", "team_id", "api_app_id", "enterprise_id", "event_id"), str
    ),
    **dict.fromkeys(
        ("user_id", "channel_id", "trigger_id", "response_url", "command", "text", "user_name"), str
    ),
    "event": dict,
    **dict.fromkeys(("authorizations", "actions"), list),
    **dict.fromkeys(("enterprise", "team", "user", "channel"), _TEXT_OR_OBJECT),
    **dict.fromkeys(("container", "message", "view"), dict),
}
#: Types of the `event` fields Bolt or the listeners read, where present.
_EVENT_FIELDS: Mapping[str, type | tuple[type, ...]] = {
    **dict.fromkeys(("type", "subtype"), str),
    **dict.fromkeys(("user", "channel"), _TEXT_OR_OBJECT),
    **dict.fromkeys(("channel_type", "text", "ts", "thread_ts", "event_ts", "bot_id"), str),
    "reaction": str,
    "item": dict,
    **dict.fromkeys(("team", "team_id"), str),
    "enterprise": _TEXT_OR_OBJECT,
}
_REACTIONS = ("reaction_added", "reaction_removed")
#: Fields every slash command carries and a command cannot do without.
_SLASH_COMMAND_FIELDS = ("command", "user_id", "trigger_id", "response_url")


class Malformed(ValueError):
    """A body Slack would not send; the message says what is wrong, for the 400."""


def read_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """The body as Bolt will see it, or `Malformed`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8") from None
    if not text:
        return {}
    try:
        if content_type == "application/json" or text.startswith("{"):
            body = json.loads(text)
        else:
            body = form = dict(parse_qsl(text, keep_blank_values=True))
            if "payload" in text:  # Bolt's test: then the body is the payload, or nothing
                body = json.loads(form["payload"]) if "payload" in form else {}
    except (ValueError, RecursionError):  # RecursionError: nested too deep for the parser
        raise Malformed("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Malformed("the body must be a JSON object")
    check_shape(body)
    return body


def check_shape(body: Mapping[str, Any]) -> None:
    """Raise `Malformed` unless every field Bolt and the listeners read has Slack's type."""
    _check_fields(body, _BODY_FIELDS, "")
    for name in ("authorizations", "actions"):
        if any(not isinstance(entry, dict) for entry in body.get(name) or ()):
            raise Malformed(f"{name} must hold objects")
    for authorization in body.get("authorizations") or ():
        _check_fields(authorization, _BODY_FIELDS, "authorizations[].")
    event = body.get("event")
    if event is not None:
        _check_fields(event, _EVENT_FIELDS, "event.")
        if not isinstance(body.get("event_id"), str) or not body["event_id"]:
            raise Malformed("an event delivery needs its event_id")
        kind, person = event.get("type"), event.get("user")
        from_person = kind == "message" and person and not event.get("subtype")
        if from_person and not (isinstance(person, str) and isinstance(event.get("channel"), str)):
            raise Malformed("a message from a person needs its user and channel")
        if kind in _REACTIONS and not isinstance(person, str):
            raise Malformed("a reaction needs its user")
        item = event.get("item")
        if item is not None:
            _check_fields(item, dict.fromkeys(("type", "channel", "ts"), str), "event.item.")
    if "command" in body:
        missing = [name for name in _SLASH_COMMAND_FIELDS if not body.get(name)]
        if missing:
            raise Malformed(f"a slash command needs {', '.join(missing)}")


def _check_fields(
    obj: Mapping[str, Any], fields: Mapping[str, type | tuple[type, ...]], where: str
) -> None:
    for name, kind in fields.items():
        value = obj.get(name)
        if value is not None and not isinstance(value, kind):
            raise Malformed(f"{where}{name} has the wrong type")


async def refusal(request: web.Request, signing_secret: str) -> web.Response | None:
    """The answer for a request Bolt must not see, or None to hand it to Bolt (which checks the
    signature of every request it sees)."""
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    raw = await request.read()
    try:
        body = read_body(raw, request.content_type)
    except Malformed as exc:
        if not _signed(signing_secret, raw, timestamp, signature):
            return _error(401, "bad_signature", "the request is not signed by Slack")
        return _error(400, "malformed_body", str(exc))
    if body.get("ssl_check") == "1":
        return None  # Bolt answers Slack's certificate check before any signature check
    if not _well_formed(timestamp, signature):
        # Never a valid signature, and Bolt's check raises on some (a timestamp that is no
        # number, a signature that is not ASCII) instead of refusing them.
        return _error(401, "bad_signature", "the request is not signed by Slack")
    return None


def _well_formed(timestamp: str, signature: str) -> bool:
    return bool(_TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature))


def _signed(secret: str, raw: bytes, timestamp: str, signature: str) -> bool:
    """Slack's v0 signature over the raw bytes (slack_sdk's verifier wants them as UTF-8)."""
    if not _well_formed(timestamp, signature) or abs(time.time() - int(timestamp)) > _MAX_AGE:
        return False
    base = b"v0:" + timestamp.encode() + b":" + raw
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
