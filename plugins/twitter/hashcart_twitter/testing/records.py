"""What the X stand-in records and arms: API calls, posts, DMs, deliveries, faults, open
streams, and the OAuth 1.0a checks it makes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from oauthlib.oauth1 import RequestValidator

from hashcart_twitter.testing.payloads import _HASHTAG, _URL

if TYPE_CHECKING:
    from hashcart_twitter.testing.base import XStandinBase


#: The most minutes of missed tweets a filtered-stream connection may ask for.
_MAX_BACKFILL = 5


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request the stand-in answered (faulted and refused ones included)."""

    method: str
    path: str
    query: Mapping[str, str]
    body: Any
    auth: str  # "oauth1", "bearer", "oauth2" (a signed-in person), "basic" or "none"
    status: int
    at: float


@dataclass(frozen=True, slots=True)
class PostedTweet:
    id: str
    text: str
    in_reply_to: str | None
    author_id: str
    at: float


@dataclass(frozen=True, slots=True)
class PostedDM:
    event_id: str
    recipient_id: str
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the app answered to one webhook delivery (or CRC check)."""

    status: int
    body: str
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class _Fault:
    status: int
    path: str | None
    remaining: int | None
    until: float | None
    reset_in: float
    delay: float = 0.0  # > 0: the call succeeds, but its answer comes this many seconds late

    def live(self, now: float) -> bool:
        if self.until is not None:
            return now < self.until
        return self.remaining is None or self.remaining > 0

    def matches(self, path: str) -> bool:
        return self.path is None or path.startswith(self.path)


@dataclass(slots=True)
class _Stream:
    request: web.Request
    expansions: set[str] = field(default_factory=set)
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)

    @property
    def closed(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()


#: Nonces the stand-in remembers before it forgets those older than 15 minutes.
NONCES_KEPT = 50_000


class _Validator(RequestValidator):  # type: ignore[misc]
    """oauthlib's hooks for one app and one bot account; unknown keys verify against dummies."""

    def __init__(self, standin: XStandinBase) -> None:
        super().__init__()
        self._x = standin
        self._nonces: dict[tuple[str, str], float] = {}
        self._prune_above = NONCES_KEPT

    enforce_ssl = False
    safe_characters = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    client_key_length = (1, 128)
    access_token_length = (1, 128)
    nonce_length = (8, 128)
    dummy_client = "dummyclientkey"
    dummy_access_token = "dummy-access-token"
    timestamp_lifetime = 600

    def get_client_secret(self, client_key: str, request: Any) -> str:
        return self._x.consumer_secret if client_key == self._x.consumer_key else "dummy"

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        return self._x.access_token_secret if token == self._x.access_token else "dummy"

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return bool(client_key == self._x.consumer_key)

    def validate_timestamp_and_nonce(
        self, client_key: str, timestamp: str, nonce: str, *_: Any, **__: Any
    ) -> bool:
        now = time.time()
        if len(self._nonces) > self._prune_above:
            self._nonces = {k: t for k, t in self._nonces.items() if now - t < 900}
            # A prune reads every nonce: with more than NONCES_KEPT calls in 15 minutes a fixed
            # threshold would prune on every call (17 ms each at 50,000), so it grows with them.
            self._prune_above = max(NONCES_KEPT, 2 * len(self._nonces))
        key = (timestamp, nonce)
        if key in self._nonces:
            return False
        self._nonces[key] = now
        return True


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json(loads=json.loads)
    except ValueError:
        return None


def _csv(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _weight(text: str) -> int:
    """X's weighted length, roughly: a URL counts 23, characters past U+10FF count 2."""
    rest = _URL.sub("", text)
    return 23 * len(_URL.findall(text)) + sum(1 if ord(ch) <= 0x10FF else 2 for ch in rest)


def _matches(rule: str, v1: Mapping[str, Any]) -> bool:
    """A small subset of X's rule language: `#tag`, `-is:retweet`, `-is:reply` and words."""
    text = (v1.get("extended_tweet", {}).get("full_text") or v1.get("text", "")).lower()
    tags = {m.group(1).lower() for m in _HASHTAG.finditer(text)}
    for token in rule.split():
        negate = token.startswith("-")
        term = token[1:] if negate else token
        if term == "is:retweet":
            hit = "retweeted_status" in v1
        elif term == "is:reply":
            hit = bool(v1.get("in_reply_to_status_id_str"))
        elif term.startswith("#"):
            hit = term[1:].lower() in tags
        else:
            hit = term.lower() in text
        if hit == negate:
            return False
    return True
