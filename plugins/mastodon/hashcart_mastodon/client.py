"""The few Mastodon API calls the bot makes, over aiohttp, each with a timeout; errors are
sorted into what the caller does next: wait and retry, treat as absent, or give up."""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

import hashcart
from hashcart_mastodon.settings import MastodonSettings

Json = dict[str, Any]
#: Notifications per page, Mastodon's maximum.
PAGE = 80


class ErrorKind(enum.StrEnum):
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    NOT_FOUND = "not_found"
    UNAUTHORIZED = "unauthorized"
    REFUSED = "refused"


_KINDS = {404: ErrorKind.NOT_FOUND, 401: ErrorKind.UNAUTHORIZED, 403: ErrorKind.UNAUTHORIZED}


@dataclass(eq=False)
class MastodonError(Exception):
    kind: ErrorKind
    reason: str
    _: KW_ONLY
    status: int | None = None
    retry_after: float | None = None

    def __post_init__(self) -> None:
        super().__init__(self.reason)

    @property
    def transient(self) -> bool:
        return self.kind in (ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE)


class MastodonClient:
    """One aiohttp session per platform, opened on start and closed on stop."""

    def __init__(self, settings: MastodonSettings, timeout: aiohttp.ClientTimeout) -> None:
        self._settings = settings
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def open(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"Authorization": f"Bearer {self._settings.token}"}
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise MastodonError(ErrorKind.UNAVAILABLE, "the Mastodon client is closed")
        return self._session

    # -- calls ------------------------------------------------------------------------------------

    async def verify_credentials(self) -> Json:
        """The bot's own account: its id (to ignore its own posts) and `acct`."""
        return dict(await self._json("GET", "/api/v1/accounts/verify_credentials"))

    async def get_status(self, status_id: str) -> Json | None:
        """A status by id, or None when it is gone or not visible to the bot."""
        try:
            found = await self._json("GET", f"/api/v1/statuses/{status_id}")
        except MastodonError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                return None
            raise
        return dict(found)

    async def mentions(self, *, min_id: str | None = None, limit: int = PAGE) -> list[Json]:
        """Mention notifications just after `min_id`, oldest first (the newest without it)."""
        params: list[tuple[str, str]] = [("types[]", "mention"), ("limit", str(limit))]
        if min_id is not None:
            params.append(("min_id", min_id))
        found = await self._json("GET", "/api/v1/notifications", params=params)
        if not isinstance(found, list):
            raise MastodonError(ErrorKind.UNAVAILABLE, "notifications: not a JSON list")
        return sorted((n for n in found if isinstance(n, dict)), key=lambda n: id_key(n["id"]))

    async def post_status(
        self,
        text: str,
        *,
        visibility: str,
        in_reply_to_id: str | None,
        language: str | None,
        idempotency_key: str,
    ) -> Json:
        """Post a status; the key makes a retry of the same reply return the first post."""
        body: Json = {"status": text, "visibility": visibility}
        if in_reply_to_id:
            body["in_reply_to_id"] = in_reply_to_id
        if language:
            body["language"] = language
        headers = {"Idempotency-Key": idempotency_key}
        return dict(await self._json("POST", "/api/v1/statuses", json=body, headers=headers))

    async def stream_health(self) -> bool:
        try:
            async with self.session.get(
                f"{self._settings.stream_base}/api/v1/streaming/health"
            ) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    @contextlib.asynccontextmanager
    async def notification_stream(self) -> AsyncIterator[aiohttp.ClientResponse]:
        """The `user:notification` stream; a read that waits longer than the stall limit fails."""
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=self._timeout.connect,
            sock_connect=self._timeout.sock_connect,
            sock_read=self._settings.stall_seconds,
        )
        url = f"{self._settings.stream_base}/api/v1/streaming/user/notification"
        try:
            async with self.session.get(
                url, timeout=timeout, headers={"Accept": "text/event-stream"}
            ) as response:
                if response.status != 200:
                    raise await _error(response)
                yield response
        except aiohttp.ClientError as exc:
            raise MastodonError(ErrorKind.UNAVAILABLE, f"stream: {exc!r}") from exc

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self._settings.api_url}{path}"
        try:
            async with self.session.request(method, url, **kwargs) as response:
                if response.status >= 400:
                    raise await _error(response)
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise MastodonError(ErrorKind.UNAVAILABLE, f"{method} {path}: {exc!r}") from exc


async def _error(response: aiohttp.ClientResponse) -> MastodonError:
    try:
        body = await response.json(content_type=None)
        message = str(body.get("error")) if isinstance(body, dict) else str(body)
    except (ValueError, aiohttp.ClientError):
        message = response.reason or ""
    reason = f"{response.method} {response.url.path}: {response.status} {message}".strip()
    status = response.status
    if status == 429:
        wait = retry_after(response.headers)
        return MastodonError(ErrorKind.RATE_LIMITED, reason, status=status, retry_after=wait)
    kind = _KINDS.get(status, ErrorKind.UNAVAILABLE if status >= 500 else ErrorKind.REFUSED)
    return MastodonError(kind, reason, status=status)


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float:
    """Seconds until Mastodon's rate-limit window resets (`X-RateLimit-Reset`, an ISO time)."""
    asked = hashcart.retry_after(headers, now=None if now is None else now.timestamp())
    if asked is not None:
        return asked
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            moment = datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            return 60.0
        return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
    return 60.0


async def sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
    """Server-sent events as (event, data); comments (`:thump` heartbeats) are skipped."""
    event, data = "message", list[str]()
    async for raw in response.content:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", list[str]()
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


def id_key(value: object) -> tuple[int, str]:
    """Mastodon ids are numbers written as strings: compare by length, then text."""
    text = str(value)
    return (len(text), text)


def decode(data: str) -> Json | None:
    try:
        found = json.loads(data)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
