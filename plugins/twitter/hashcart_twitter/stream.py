"""Ingestion without webhooks: the v2 filtered stream, kept open for as long as hashcart runs.

X cuts off clients that reconnect too eagerly, so `Backoff` follows its documented schedule. A
connection is treated as dead after a stretch of silence: X sends a keep-alive every 20 seconds.

The stream has no cursor and X never sends a tweet twice on its own, so a tweet read but not yet
recorded when the connection or the node dies would be lost. Every connection therefore asks X
for the last `backfill_minutes` (at most 5) again: the first one of a node too, since it may be
taking over from a node that died. Tweets that come twice cost nothing - those this consumer has
finished are skipped, and the core applies a tweet id once - and a tweet counts as finished only
after `submit` returned, so one that was still being recorded is taken again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hashcart import Host, TrackedTasks, Unavailable, doubling, fault_point, reconnecting, retrying
from hashcart_twitter.client import ErrorKind, XClient, XError
from hashcart_twitter.ingest import Ingest, LookupFailed
from hashcart_twitter.normalize import PLATFORM
from hashcart_twitter.settings import TwitterSettings

log = logging.getLogger(__name__)

RULE_TAG = "hashcart"
STREAM_PARAMS = {
    "tweet.fields": (
        "author_id,conversation_id,entities,referenced_tweets,lang,note_tweet,in_reply_to_user_id"
    ),
    # The authors of referenced tweets too: whether they are protected decides who may hear
    # about a product taken from them.
    "expansions": "author_id,referenced_tweets.id,referenced_tweets.id.author_id",
    "user.fields": "username,protected",
}
#: How many finished tweet ids are remembered, so that a backfill skips them.
_REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class Backoff:
    """X's documented reconnect schedule; `scale` shrinks every wait (tests use a small one)."""

    scale: float = 1.0
    network_step: float = 0.25
    network_max: float = 16.0
    http_first: float = 5.0
    http_max: float = 320.0
    rate_first: float = 60.0
    rate_max: float = 960.0

    def delay(self, kind: str, failures: int) -> float:
        """Seconds to wait after the `failures`-th consecutive failure of this kind (1-based)."""
        n = max(1, failures)
        if kind == "network":
            seconds = min(self.network_step * n, self.network_max)
        elif kind == "rate":
            seconds = min(self.rate_first * 2 ** (n - 1), self.rate_max)
        else:
            seconds = min(self.http_first * 2 ** (n - 1), self.http_max)
        return seconds * self.scale


def rule_value(hashtag: str) -> str:
    return f"#{hashtag} -is:retweet"


def rule_values(hashtag: str, bot_screen_name: str | None) -> list[str]:
    """The stream's rules: the trigger hashtag, and — when the bot's handle is known — the
    checkout hashtags aimed at the bot (they are common words on X, so only those)."""
    rules = [rule_value(hashtag)]
    if bot_screen_name:
        rules += [f"#{tag} @{bot_screen_name} -is:retweet" for tag in ("checkout", "confirm")]
    return rules


class StreamConsumer:
    """Owns the stream task; each tweet is handled in its own task so reading never stalls."""

    def __init__(
        self, client: XClient, ingest: Ingest, hashcart: Host, settings: TwitterSettings
    ) -> None:
        self._hashcart = hashcart
        self._bot = settings.bot_screen_name
        self._backfill = settings.stream_backfill_minutes
        self._backoff = Backoff(scale=settings.stream_backoff_scale)
        self._stall = settings.stream_stall_seconds
        # Tweet ids being recorded, and those finished (recorded, or not commands), oldest first.
        self._in_flight: set[str] = set()
        self._finished: dict[str, None] = {}
        self._client = client
        self._ingest = ingest
        self._stop = asyncio.Event()
        self._handlers = TrackedTasks()
        self._failures: dict[str, int] = {}  # consecutive failures of each kind
        self._rule_ready = False

    async def run(self) -> None:
        """Read the stream until cancelled (when this node loses the stream's lease)."""
        self._stop.clear()
        self._failures = {}
        self._rule_ready = False
        await reconnecting(self._read, stop=self._stop, delay=self._delay)

    async def stop(self, grace: float = 5.0) -> None:
        self._stop.set()
        # Let commands already read finish being recorded; X will not send them again.
        await self._handlers.drain(grace)

    async def ensure_rule(self) -> None:
        """Add the rules that are missing, in one call, so restarts add nothing."""
        present = {rule.get("value") for rule in await self._client.stream_rules()}
        missing = [
            v for v in rule_values(self._hashcart.settings.hashtag, self._bot) if v not in present
        ]
        if not missing:
            return
        await self._client.add_stream_rules([{"value": v, "tag": RULE_TAG} for v in missing])
        log.info("added filtered-stream rules %r", missing)

    async def _read(self, connected: Callable[[], None]) -> None:
        if not self._rule_ready:
            await self.ensure_rule()
            self._rule_ready = True
        async with self._client.stream(self._params(), stall_seconds=self._stall) as resp:
            self._failures.clear()
            connected()
            log.info("filtered stream connected")
            async for line in resp.content:
                self._line(line)
        log.info("filtered stream closed by X; reconnecting")

    def _delay(self, error: Exception | None, _in_a_row: int) -> float:
        """X's documented schedule, counted per kind of failure; anything else ends the loop."""
        kind = "network"
        if isinstance(error, XError):
            if self._backfill and self._rule_ready and error.status in (400, 403):
                # Not every access level may ask for a backfill: go on without one.
                log.warning(
                    "filtered stream refused backfill_minutes (%s); not asking again", error.reason
                )
                self._hashcart.count_platform_error(PLATFORM, "stream_backfill_refused")
                self._backfill = 0
                return 0.0
            if error.kind is ErrorKind.RATE_LIMITED:
                kind = "rate"
            elif error.status is not None:
                kind = "http"
            log.warning("filtered stream: %s", error.reason)
            self._hashcart.count_platform_error(PLATFORM, f"stream_{kind}")
        elif isinstance(error, OSError | TimeoutError | ValueError):
            log.warning("filtered stream dropped: %r", error)
            self._hashcart.count_platform_error(PLATFORM, "stream_network")
        elif error is not None:
            raise error
        self._failures[kind] = self._failures.get(kind, 0) + 1
        return self._backoff.delay(kind, self._failures[kind])

    def _params(self) -> dict[str, str]:
        if not self._backfill:
            return dict(STREAM_PARAMS)
        return {**STREAM_PARAMS, "backfill_minutes": str(self._backfill)}

    def _line(self, raw: bytes) -> None:
        line = raw.strip()
        if not line:
            return  # keep-alive
        try:
            message = json.loads(line)
        except ValueError:
            log.warning("filtered stream sent a line that is not JSON")
            self._hashcart.count_platform_error(PLATFORM, "bad_event")
            return
        if not isinstance(message, dict) or "data" not in message:
            if isinstance(message, dict) and message.get("errors"):
                log.warning("filtered stream says: %s", message["errors"])
            return
        data = message["data"]
        tweet_id = str(data.get("id", "")) if isinstance(data, dict) else ""
        if tweet_id and (tweet_id in self._finished or tweet_id in self._in_flight):
            return  # a backfill sending again what this consumer has or is recording
        self._handlers.spawn(self._handle(tweet_id, message))

    async def _handle(self, tweet_id: str, message: dict[str, Any]) -> None:
        """Record one streamed tweet, trying again while the database or X is away."""
        self._in_flight.add(tweet_id)
        try:
            if await self._record(message):
                self._finish(tweet_id)
        finally:
            self._in_flight.discard(tweet_id)

    async def _record(self, message: dict[str, Any]) -> bool:
        """True once the tweet is recorded or known to be no command; False when it failed in
        a way a later backfill may get past."""
        try:
            await retrying(
                lambda: self._record_once(message),
                delays=doubling(0.5 * self._backoff.scale, 30.0),
                retry_on=(Unavailable, LookupFailed),
                on_retry=self._not_yet,
                pause=self._retry_pause,
            )
            return True
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("malformed streamed tweet skipped: %s", exc)
            self._hashcart.count_platform_error(PLATFORM, "bad_event")
            return True
        except Exception:
            log.exception("streamed tweet failed")
            self._hashcart.count_platform_error(PLATFORM, "event_failed")
            return False

    async def _record_once(self, message: dict[str, Any]) -> None:
        command = await self._ingest.from_v2(message)
        if command is not None:
            await self._hashcart.submit(command)
            # Recorded, and not yet finished: a crash test kills the node here.
            await fault_point("twitter.stream.recorded")

    def _not_yet(self, exc: Exception) -> None:
        log.warning("streamed tweet not recorded yet: %s", exc)
        self._hashcart.count_platform_error(PLATFORM, "unavailable")

    async def _retry_pause(self, seconds: float) -> None:
        if self._stop.is_set():
            await asyncio.sleep(seconds)  # stopping: keep trying only within stop()'s grace
        else:
            await self._pause(seconds)

    def _finish(self, tweet_id: str) -> None:
        if not tweet_id:
            return
        self._finished[tweet_id] = None
        while len(self._finished) > _REMEMBERED:
            self._finished.pop(next(iter(self._finished)))

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake as soon as the consumer is stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
