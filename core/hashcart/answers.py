"""What an HTTP answer means for the call that got it: done, try again later, or refused.

Every platform and shop says "busy" the same way (429, a 5xx, maybe a `Retry-After` in seconds
or as an HTTP date) and "no" the same way (any other 4xx). Plugins classify an answer here and
keep only their platform's own quirks (a JSON `retry_after`, a duplicate-text 403) beside it.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from hashcart.platform import RetryLater, SendRefused

#: A `Retry-After` is honoured up to a day: a nonsensical one cannot park work for ever.
MAX_RETRY_AFTER = 86_400.0


class Verdict(enum.Enum):
    OK = "ok"
    RETRY = "retry"
    REFUSED = "refused"


@dataclass(frozen=True)
class HttpAnswer:
    """An answer's verdict, and for a retry the seconds the server asked for (None: unsaid)."""

    status: int
    verdict: Verdict
    retry_after: float | None = None

    def send_error(
        self, reason: str, *, default_wait: float | None = None
    ) -> RetryLater | SendRefused:
        """The reply sender's exception for a failed send; without a hint it backs off itself."""
        if self.verdict is Verdict.REFUSED:
            return SendRefused(reason)
        wait = self.retry_after if self.retry_after is not None else default_wait
        return RetryLater(reason, wait)


def classify_answer(status: int, headers: Mapping[str, Any] | None = None) -> HttpAnswer:
    """2xx and 3xx are fine; 429 and 5xx are worth another try; any other status is refused."""
    if status < 400:
        return HttpAnswer(status, Verdict.OK)
    if status == 429 or status >= 500:
        return HttpAnswer(status, Verdict.RETRY, retry_after(headers))
    return HttpAnswer(status, Verdict.REFUSED)


def retry_after(
    headers: Mapping[str, Any] | None,
    *,
    maximum: float = MAX_RETRY_AFTER,
    now: float | None = None,
) -> float | None:
    """Seconds the `Retry-After` header asks to wait, between 0 and `maximum`; None when absent
    or unreadable. Servers send either seconds (`120`) or an HTTP date (`Wed, 21 Oct 2026
    07:28:00 GMT`); a date already past means "now"."""
    value = header(headers, "Retry-After")
    if value is None:
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(maximum, max(0.0, seconds))


def header(headers: Mapping[str, Any] | None, name: str) -> Any | None:
    """A header's value whatever the mapping's case rules; the first of a repeated header."""
    if headers is None:
        return None
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == wanted), None)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return value
