"""The Account Activity API receiver: the CRC challenge and signed event deliveries.

Tweets (`tweet_create_events`) and direct messages to the bot (`direct_message_events`) can be
commands; other activity is acknowledged and ignored.

The CRC answer and the delivery signature are the same HMAC of the consumer secret, so the CRC
route would sign anything it is handed: a stranger could ask it to sign a delivery of their own
making and then POST that delivery as if it came from X. It therefore answers only tokens shaped
like X's - the URL-safe base64 of a UUID, about 48 characters - and allows up to 256 characters of
that alphabet with optional `=` padding. No JSON object can be written in that alphabet (it
needs `{` and `"`), and the delivery route accepts nothing but a JSON object.

A delivery is answered only after every command in it is durable, so a 200 means "keep nothing
for us"; a 503 asks X to deliver again, which is harmless because tweet ids dedupe commands.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from hashcart import CartCommand, Unavailable, fault_point
from hashcart_twitter.ingest import Ingest, LookupFailed

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
#: The crc_token values answered: X's own tokens, and nothing that could be a delivery body.
CRC_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}={0,2}")
CountError = Callable[[str], None]
Submit = Callable[[Any], Any]


def signature(secret: bytes, payload: bytes) -> str:
    """`sha256=` + base64 HMAC-SHA256: the CRC response token and the delivery signature alike."""
    digest = hmac.new(secret, payload, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class WebhookReceiver:
    def __init__(
        self,
        *,
        secret: Callable[[], bytes | None],
        ingest: Ingest,
        submit: Submit,
        count_error: CountError,
    ) -> None:
        self._secret = secret
        self._ingest = ingest
        self._submit = submit
        self._count_error = count_error

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/twitter/webhook", self.crc)
        app.router.add_post("/twitter/webhook", self.deliver)

    async def crc(self, request: web.Request) -> web.Response:
        secret = self._secret()
        if secret is None:
            return error(404, "not_configured", "X is not configured on this server")
        token = request.query.get("crc_token")
        if not token:
            return error(400, "missing_crc_token", "the crc_token query parameter is required")
        if not CRC_TOKEN.fullmatch(token):
            self._count_error("bad_crc_token")
            return error(
                400,
                "bad_crc_token",
                "crc_token must be 1 to 256 characters of URL-safe base64, as X sends it",
            )
        return web.json_response({"response_token": signature(secret, token.encode())})

    async def deliver(self, request: web.Request) -> web.Response:
        secret = self._secret()
        if secret is None:
            return error(404, "not_configured", "X is not configured on this server")
        body = await request.read()
        if not signature_ok(secret, body, request.headers.get(SIGNATURE_HEADER)):
            self._count_error("bad_signature")
            return error(401, "bad_signature", f"{SIGNATURE_HEADER} does not match the body")
        try:
            payload = orjson.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested too deep for the parser
            return error(400, "malformed_json", "the body is not valid JSON")
        if not isinstance(payload, dict):
            return error(400, "malformed_json", "the body must be a JSON object")
        found: dict[str, list[Any]] = {}
        for name in ("tweet_create_events", "direct_message_events"):
            events = payload.get(name)
            if events is not None and not isinstance(events, list):
                return error(400, "bad_delivery", f"{name} must be a list")
            found[name] = events or []
        tweets, messages = found["tweet_create_events"], found["direct_message_events"]
        users = payload["users"] if isinstance(payload.get("users"), Mapping) else {}
        for_user_id = payload.get("for_user_id")
        for_user_id = str(for_user_id) if isinstance(for_user_id, str | int) else None
        reads = [self._tweet(tweet) for tweet in tweets]
        reads += [self._message(message, users, for_user_id) for message in messages]
        if not reads:
            return web.json_response({"handled": 0})  # likes, follows: nothing to do
        if len(reads) == 1:  # the usual delivery: skip the task a gather would create
            results = [await self._one(reads[0])]
        else:
            results = await asyncio.gather(*(self._one(read) for read in reads))
        if any(result == "retry" for result in results):
            return error(503, "unavailable", "some events could not be recorded; deliver again")
        if all(result == "bad" for result in results):
            return error(400, "bad_delivery", "no event in the delivery could be read")
        return web.json_response({"handled": sum(result == "submitted" for result in results)})

    async def _tweet(self, tweet: object) -> CartCommand | None:
        if not isinstance(tweet, Mapping):
            raise ValueError("an event that is not an object")
        return await self._ingest.from_v1(tweet)

    async def _message(
        self, message: object, users: Mapping[str, Any], for_user_id: str | None
    ) -> CartCommand | None:
        if not isinstance(message, Mapping):
            raise ValueError("an event that is not an object")
        return await self._ingest.from_dm(message, users, for_user_id)

    async def _one(self, read: Awaitable[CartCommand | None]) -> str:
        """Handle one event on its own, so a broken one never costs the others."""
        try:
            command = await read
            if command is None:
                return "ignored"
            await self._submit(command)
            # Recorded, and X has not heard so yet: a crash test kills the node here.
            await fault_point("twitter.webhook.recorded")
        except (Unavailable, LookupFailed) as exc:
            log.warning("tweet event not recorded, asking X to deliver again: %s", exc)
            self._count_error("unavailable")
            return "retry"
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("malformed tweet event skipped: %s", exc)
            self._count_error("bad_event")
            return "bad"
        except Exception:
            log.exception("tweet event failed")
            self._count_error("event_failed")
            return "retry"
        return "submitted"
