"""When to try again, and the loops that wait it out.

A failure that says when to come back (`Retry-After`) is retried then; one that does not, with
exponential backoff and jitter, so a platform down for minutes is asked a few times a minute and a
crowd of waiting answers (or reconnecting nodes) does not come back in one wave. Answers and orders
are given up by age (`HASHCART_RETRY_GIVE_UP_MINUTES`), which rides out a ten-minute outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TypeVar

from hashcart.errors import Unavailable

T = TypeVar("T")

#: The first retry of an answer or an order waits about this long; each further one about twice
#: as long, up to `MAX_DELAY` (no wait without a hint from the other side is longer).
FIRST_DELAY = 0.5
MAX_DELAY = 120.0

#: Connected: the plugin calls this once a connection is up, which resets the failure count.
Connected = Callable[[], None]


def doubling(first: float, cap: float) -> Iterator[float]:
    """`first`, twice that, four times … up to `cap`, for ever."""
    return (min(cap, first * 2 ** min(n, 30)) for n in itertools.count())


def backoff_delay(failures: int, *, first: float, cap: float, jitter: float = 0.1) -> float:
    """`first`, twice that, four times … after the 1st, 2nd, 3rd failure in a row, up to `cap`,
    each spread by ±`jitter` (a fraction)."""
    base = min(cap, first * 2 ** min(max(0, failures - 1), 30))
    return float(base * random.uniform(1 - jitter, 1 + jitter))


def next_delay(attempt: int, hint: float | None) -> float:
    """Seconds until try `attempt + 1`: the other side's hint (above 0) when it gave one, up to a
    day so a nonsensical `Retry-After` cannot park work for ever; else backoff."""
    if hint is not None and hint > 0:
        return min(hint, 86_400.0)
    return backoff_delay(attempt, first=FIRST_DELAY, cap=MAX_DELAY, jitter=0.2)


def too_old(created_at: float, now: float, give_up_minutes: float) -> bool:
    """Whether work queued at `created_at` has been tried for long enough to give it up."""
    return now - created_at >= give_up_minutes * 60


async def retrying(
    work: Callable[[], Awaitable[T]],
    *,
    delays: Iterable[float],
    retry_on: tuple[type[Exception], ...] = (Unavailable,),
    on_retry: Callable[[Exception], None] | None = None,
    pause: Callable[[float], Awaitable[object]] = asyncio.sleep,
    stop: asyncio.Event | None = None,
) -> T:
    """`await work()`, again after each of `delays` while it raises one of `retry_on`, for a
    platform that must keep trying to record an event it will not get again (see docs/host.md).

    `pause(seconds)` waits: one that wakes when the platform stops keeps stopping quick.
    """
    waits, stop = iter(delays), stop or asyncio.Event()
    while True:
        try:
            return await work()
        except retry_on as error:
            wait = next(waits, None)
            if wait is None:
                raise
            if on_retry is not None:
                on_retry(error)
            if stop.is_set():
                raise
            await pause(wait)
            if stop.is_set():
                raise


async def reconnecting(
    connect: Callable[[Connected], Awaitable[None]],
    *,
    stop: asyncio.Event,
    delay: Callable[[Exception | None, int], float],
) -> None:
    """Keep a long-lived connection (a stream, a gateway) open: run `connect(connected)` until
    `stop` is set, again after each end or failure (see docs/host.md).

    `delay(error, failures)` gets what ended the last try (None: a clean close) and how many tries
    in a row ended without, or since, a `connected()`; it returns the seconds to wait.
    """
    failures = 0

    def connected() -> None:
        nonlocal failures
        failures = 0

    while not stop.is_set():
        error: Exception | None = None
        try:
            await connect(connected)
        except Exception as exc:
            error = exc
        failures += 1
        seconds = delay(error, failures)
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=seconds)
