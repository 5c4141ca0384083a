"""Keeping a long-lived connection (a stream, a gateway) open: reconnect with backoff and jitter.

A stream drops for many reasons (a deploy on the other side, a network blip, a rate limit), and
a crowd of nodes that all reconnect at once makes the next drop likelier; so each try waits
longer than the last, with some jitter, and a connection that came up resets the count.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable

#: Connected: the plugin calls this once a connection is up, which resets the failure count.
Connected = Callable[[], None]


def backoff_delay(failures: int, *, first: float, cap: float, jitter: float = 0.1) -> float:
    """`first`, twice that, four times … after the 1st, 2nd, 3rd failure in a row, up to `cap`,
    each spread by ±`jitter` (a fraction)."""
    base = min(cap, first * 2 ** min(max(0, failures - 1), 30))
    return float(base * random.uniform(1 - jitter, 1 + jitter))


async def reconnecting(
    connect: Callable[[Connected], Awaitable[None]],
    *,
    stop: asyncio.Event,
    delay: Callable[[Exception | None, int], float],
) -> None:
    """Run `connect` until `stop` is set, again after each end or failure.

    `connect(connected)` holds one connection: it calls `connected()` once it is up and returns
    when the other side closes it, or raises. `delay(error, failures)` says how many seconds to
    wait before the next try, given what ended the last one (None: a clean close) and how many
    tries in a row have ended without, or since, a connection; it logs and counts the failure,
    and re-raises an error that should end the loop. The wait ends early when `stop` is set.
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
