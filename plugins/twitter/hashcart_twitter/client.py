"""The few X API v2 calls the bot makes, signed with OAuth 1.0a (user context) by oauthlib.

Every failure becomes one `XError` whose `kind` says what the caller can do about it: wait for
the rate-limit window, try again later, re-word a duplicate post, or give up.
"""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import KW_ONLY, dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson
from yarl import URL

import hashcart
from hashcart_twitter.oauth1 import UrlSigner
from hashcart_twitter.settings import TwitterSettings

log = logging.getLogger(__name__)

#: What the bot asks for when it looks a tweet up: enough to find the links in it, and its
#: author, whose `protected` says whether a product found there may be named in public.
LOOKUP_PARAMS = {
    "tweet.fields": "author_id,conversation_id,entities,referenced_tweets,lang,in_reply_to_user_id",
    "expansions": "author_id,referenced_tweets.id",
    "user.fields": "username,protected",
}
#: Without a reset header X's windows are 15 minutes; a minute is a polite first guess.
DEFAULT_RATE_LIMIT_WAIT = 60.0


class ErrorKind(enum.StrEnum):
    RATE_LIMITED = "rate_limited"  # 429: wait until x-rate-limit-reset
    UNAVAILABLE = "unavailable"  # 5xx, timeout, connection refused: try again
    DUPLICATE = "duplicate"  # 403 "duplicate content": re-word and post again
    REFUSED = "refused"  # any other 4xx: trying again will not help


@dataclass(eq=False)
class XError(Exception):
    kind: ErrorKind
    reason: str
    _: KW_ONLY
    status: int | None = None
    retry_after: float | None = None
    # False only when the request certainly never reached X (connection refused): a retry
    # after anything else may find the first attempt already posted.
    sent: bool = True

    def __post_init__(self) -> None:
        super().__init__(self.reason)


class XClient:
    """One aiohttp session to `HASHCART_TWITTER_API_URL`; create it inside the running loop."""

    def __init__(self, settings: TwitterSettings, timeout: aiohttp.ClientTimeout) -> None:
        self._settings = settings
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._signer: UrlSigner | None = None
        self.closed = False

    @property
    def session(self) -> aiohttp.ClientSession:
        if self.closed:
            # Stopping: a late call must not open a session nobody will close.
            raise XError(ErrorKind.UNAVAILABLE, "the X client is stopped", sent=False)
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"User-Agent": "hashcart-twitter"},
                connector=aiohttp.TCPConnector(limit=64),
            )
        return self._session

    def open(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- calls ----------------------------------------------------------------------------------

    async def get_tweet(self, tweet_id: str) -> dict[str, Any] | None:
        """The v2 `{"data", "includes"}` object of a tweet, or None when X says it is gone."""
        body = await self._call("GET", f"/2/tweets/{quote(tweet_id, safe='')}", LOOKUP_PARAMS)
        if not isinstance(body.get("data"), dict):
            return None  # X answers a missing or protected tweet with 200 and only "errors"
        return body

    async def post_tweet(self, text: str, *, in_reply_to: str | None) -> str:
        payload: dict[str, Any] = {"text": text}
        if in_reply_to:
            payload["reply"] = {"in_reply_to_tweet_id": in_reply_to}
        body = await self._call("POST", "/2/tweets", json_body=payload)
        return str(body.get("data", {}).get("id", ""))

    async def send_dm(self, user_id: str, text: str) -> str:
        path = f"/2/dm_conversations/with/{quote(user_id, safe='')}/messages"
        body = await self._call("POST", path, json_body={"text": text})
        return str(body.get("data", {}).get("dm_event_id", ""))

    async def me(self) -> dict[str, Any]:
        body = await self._call("GET", "/2/users/me", {"user.fields": "username"})
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    async def stream_rules(self) -> list[dict[str, Any]]:
        body = await self._call("GET", "/2/tweets/search/stream/rules", bearer=True)
        return [rule for rule in body.get("data") or [] if isinstance(rule, dict)]

    async def add_stream_rules(self, rules: list[dict[str, str]]) -> dict[str, Any]:
        return await self._call(
            "POST", "/2/tweets/search/stream/rules", json_body={"add": rules}, bearer=True
        )

    @asynccontextmanager
    async def stream(
        self, params: Mapping[str, str], *, stall_seconds: float
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The open filtered-stream response; X sends a blank keep-alive line every 20 s."""
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self._timeout.connect or 10, sock_read=stall_seconds
        )
        url = self._url("/2/tweets/search/stream", params)
        try:
            async with self.session.get(
                url, headers=self._bearer_headers(), timeout=timeout
            ) as response:
                if response.status != 200:
                    raise await _error_from(response)
                yield response
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise XError(ErrorKind.UNAVAILABLE, f"stream: {exc!r}") from exc

    # -- plumbing -------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        json_body: Mapping[str, Any] | None = None,
        bearer: bool = False,
    ) -> dict[str, Any]:
        url = self._url(path, params)
        headers = {"Content-Type": "application/json"} if json_body is not None else {}
        headers.update(self._bearer_headers() if bearer else self._oauth_headers(method, url))
        data = orjson.dumps(json_body) if json_body is not None else None
        try:
            async with self.session.request(method, url, data=data, headers=headers) as response:
                if response.status >= 300:
                    raise await _error_from(response)
                raw = await response.read()
                parsed = orjson.loads(raw) if raw.strip() else None  # as aiohttp's .json()
        except aiohttp.ClientConnectorError as exc:
            raise XError(ErrorKind.UNAVAILABLE, f"{method} {path}: {exc}", sent=False) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = f"{method} {path}: {type(exc).__name__} {exc}"
            raise XError(ErrorKind.UNAVAILABLE, reason) from exc
        except ValueError as exc:  # a 2xx whose body is not JSON
            raise XError(ErrorKind.UNAVAILABLE, f"{method} {path}: bad JSON") from exc
        return parsed if isinstance(parsed, dict) else {}

    def _url(self, path: str, params: Mapping[str, str] | None = None) -> URL:
        # Encode the query ourselves and tell yarl not to touch it: the bytes on the wire must
        # be the bytes oauthlib signed.
        query = urlencode(dict(params or {}), quote_via=quote, safe="")
        return URL(f"{self._settings.api_url}{path}" + (f"?{query}" if query else ""), encoded=True)

    def _oauth_headers(self, method: str, url: URL) -> dict[str, str]:
        settings = self._settings
        if not settings.enabled:
            raise XError(ErrorKind.REFUSED, "X credentials are not configured", sent=False)
        if self._signer is None:
            assert settings.consumer_key and settings.access_token
            assert settings.consumer_secret and settings.access_token_secret
            self._signer = UrlSigner(
                settings.consumer_key,
                settings.consumer_secret.get_secret_value(),
                settings.access_token,
                settings.access_token_secret.get_secret_value(),
            )
        # JSON bodies are not part of an OAuth 1.0a signature, so only the URL is signed.
        return {"Authorization": self._signer.authorization(method, str(url))}

    def _bearer_headers(self) -> dict[str, str]:
        token = self._settings.bearer_token
        if token is None:
            raise XError(ErrorKind.REFUSED, "HASHCART_TWITTER_BEARER_TOKEN is not set", sent=False)
        return {"Authorization": f"Bearer {token.get_secret_value()}"}


async def _error_from(response: aiohttp.ClientResponse) -> XError:
    """Classify a non-2xx answer; X's bodies are Problem JSON (`title`, `detail`, `type`)."""
    status = response.status
    try:
        text = await response.text()
    except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError):
        text = ""
    detail = _problem_detail(text) or response.reason or str(status)
    reason = f"{response.method} {response.url.path}: {status} {detail}"
    if status == 429:
        wait = rate_limit_wait(response.headers.get("x-rate-limit-reset"))
        return XError(ErrorKind.RATE_LIMITED, reason, status=status, retry_after=wait)
    if status >= 500:
        asked = hashcart.retry_after(response.headers)
        return XError(ErrorKind.UNAVAILABLE, reason, status=status, retry_after=asked)
    duplicate = status == 403 and "duplicate" in text.lower()
    return XError(ErrorKind.DUPLICATE if duplicate else ErrorKind.REFUSED, reason, status=status)


def rate_limit_wait(reset_header: str | None, *, now: float | None = None) -> float:
    """Seconds until `x-rate-limit-reset` (Unix epoch seconds), at least one second."""
    try:
        reset = float(reset_header or "")
    except ValueError:
        return DEFAULT_RATE_LIMIT_WAIT
    return max(1.0, reset - (time.time() if now is None else now))


def _problem_detail(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text[:200]
    if not isinstance(body, dict):
        return ""
    if isinstance(body.get("detail"), str):
        return str(body["detail"])
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or errors[0].get("detail") or "")
    return str(body.get("title") or "")
