"""Recording an event while the core (or the platform's API) is away for a moment.

A platform that will not deliver an event again (a streamed post, a gateway event) must keep
trying to record it: `hashcart.Unavailable` says the database is unreachable for now. Each plugin
names what counts as "away for now" and how long to wait; the loop is here.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TypeVar

from hashcart.errors import Unavailable

T = TypeVar("T")


def doubling(first: float, cap: float) -> Iterator[float]:
    """`first`, twice that, four times … up to `cap`, for ever."""
    return (min(cap, first * 2 ** min(n, 30)) for n in itertools.count())


async def retrying(
    work: Callable[[], Awaitable[T]],
    *,
    delays: Iterable[float],
    retry_on: tuple[type[Exception], ...] = (Unavailable,),
    on_retry: Callable[[Exception], None] | None = None,
    pause: Callable[[float], Awaitable[object]] = asyncio.sleep,
    stop: asyncio.Event | None = None,
) -> T:
    """`await work()`, again after each of `delays` while it raises one of `retry_on`.

    `on_retry(error)` logs and counts each failure that will be tried again; `pause(seconds)`
    waits (one that wakes when the platform stops keeps stopping quick). The last error is
    raised when the delays run out, or when `stop` is set before the next try.
    """
    waits = iter(delays)
    while True:
        try:
            return await work()
        except retry_on as error:
            wait = next(waits, None)
            if wait is None:
                raise
            if on_retry is not None:
                on_retry(error)
            if stop is not None and stop.is_set():
                raise
            await pause(wait)
            if stop is not None and stop.is_set():
                raise
