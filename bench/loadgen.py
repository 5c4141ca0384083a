"""A load generator for signed webhook deliveries, shared by the platform benchmarks.

Two ways to load a server, because they answer different questions:

* closed loop (`closed_loop`): `concurrency` senders, each sending its next delivery as soon as
  the previous one is answered. Measures how many deliveries per second the server takes.
* open loop (`open_loop`): deliveries leave on a fixed schedule (`rate` per second) whatever the
  server does, as a platform sends them. Latency is counted from the *scheduled* send time, so a
  server that falls behind is charged for the queue it builds (no coordinated omission).

The platform-specific parts are two callables: `make_body(n)` builds the n-th body and
`sign(body)` returns the headers that authenticate it (X: `x-twitter-webhooks-signature`;
Slack: the v0 timestamp and signature).

    async with LoadGenerator(url, make_body, sign) as load:
        result = await load.closed_loop(total=2000, concurrency=32)
        print(result.summary("closed loop"))
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

import aiohttp

MakeBody = Callable[[int], bytes]
Sign = Callable[[bytes], Mapping[str, str]]


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class LoadResult:
    """What one run sent, how the server answered, and how long each answer took."""

    sent: int = 0
    statuses: Counter[int | str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    started_at: float = 0.0  # wall clock, to compare with timestamps the stand-ins record
    seconds: float = 0.0

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if status == 200)

    @property
    def per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def p(self, pct: float) -> float:
        return percentile(self.latencies_ms, pct)

    def summary(self, label: str) -> str:
        codes = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items(), key=str))
        return (
            f"{label}: {self.sent} deliveries in {self.seconds:.2f} s = {self.per_second:.0f}/s; "
            f"latency p50 {self.p(50):.1f} ms, p99 {self.p(99):.1f} ms, max {self.p(100):.1f} ms "
            f"[{codes}]"
        )


class LoadGenerator:
    def __init__(
        self,
        url: str,
        make_body: MakeBody,
        sign: Sign,
        *,
        content_type: str = "application/json",
        connections: int = 512,
        timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.make_body = make_body
        self.sign = sign
        self.content_type = content_type
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._next = 0

    async def __aenter__(self) -> LoadGenerator:
        connector = aiohttp.TCPConnector(limit=self._connections, force_close=False)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    def _take(self) -> int:
        n = self._next
        self._next += 1
        return n

    async def send(self, n: int, since: float | None = None) -> tuple[int | str, float]:
        """Send delivery `n`; returns its status and milliseconds since `since` (default: now)."""
        assert self._session is not None, "use LoadGenerator as an async context manager"
        body = self.make_body(n)
        headers = {"Content-Type": self.content_type, **self.sign(body)}
        start = time.perf_counter() if since is None else since
        status: int | str
        try:
            async with self._session.post(self.url, data=body, headers=headers) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = type(exc).__name__
        return status, (time.perf_counter() - start) * 1000

    async def closed_loop(
        self, *, concurrency: int, total: int | None = None, duration: float | None = None
    ) -> LoadResult:
        """`concurrency` senders until `total` deliveries are answered or `duration` runs out."""
        if total is None and duration is None:
            raise ValueError("give total, duration or both")
        result = LoadResult(started_at=time.time())
        began = time.perf_counter()
        stop_at = began + duration if duration is not None else math.inf

        async def sender() -> None:
            while time.perf_counter() < stop_at and (total is None or result.sent < total):
                result.sent += 1
                status, ms = await self.send(self._take())
                result.statuses[status] += 1
                result.latencies_ms.append(ms)

        await asyncio.gather(*(sender() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - began
        return result

    async def open_loop(self, *, rate: float, total: int) -> LoadResult:
        """`total` deliveries, the i-th scheduled at i/rate s; latency counts from the schedule."""
        result = LoadResult(started_at=time.time())
        began = time.perf_counter()

        async def one(n: int, scheduled: float) -> None:
            status, ms = await self.send(n, since=scheduled)
            result.statuses[status] += 1
            result.latencies_ms.append(ms)

        tasks = []
        for i in range(total):
            scheduled = began + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            result.sent += 1
            tasks.append(asyncio.create_task(one(self._take(), scheduled)))
        await asyncio.gather(*tasks)
        result.seconds = time.perf_counter() - began
        return result
