"""When to try again: one policy for answers to platforms and for orders to the shop.

A failure that says when to come back (`Retry-After`, a rate-limit reset) is retried then, not
earlier. One that does not is retried with exponential backoff and jitter, so a platform that is
down for minutes is asked a few times a minute rather than every second, and a crowd of waiting
answers does not come back in one wave. Work is given up by age, not by a count of tries: an
answer or an order still not through after `HASHCART_RETRY_GIVE_UP_MINUTES` (30 by default) of
trying is given up, which rides out a ten-minute outage with room to spare.
"""

from __future__ import annotations

import random

#: The first retry waits about this long; each further one about twice as long.
FIRST_DELAY = 0.5
#: No wait without a hint from the other side is longer than this.
MAX_DELAY = 120.0


def backoff(attempt: int) -> float:
    """Exponential backoff with jitter: ~0.5 s, 1 s, 2 s … capped at `MAX_DELAY`."""
    ceiling = min(MAX_DELAY, FIRST_DELAY * 2 ** min(max(0, attempt - 1), 30))
    return float(ceiling * random.uniform(0.8, 1.2))


def next_delay(attempt: int, hint: float | None) -> float:
    """Seconds until try `attempt + 1`: the other side's hint when it gave one, else backoff.

    A hint of 0 or less means "no hint". A hint is honoured up to a day: a nonsensical
    `Retry-After` cannot park work for ever, and past the give-up age it is dropped anyway.
    """
    if hint is not None and hint > 0:
        return min(hint, 86_400.0)
    return backoff(attempt)


def too_old(created_at: float, now: float, give_up_minutes: float) -> bool:
    """Whether work queued at `created_at` has been tried for long enough to give it up."""
    return now - created_at >= give_up_minutes * 60
