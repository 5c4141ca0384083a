"""The event loop a long-running `hashcart` process runs on.

uvloop runs the same asyncio code with less CPU per request; `HASHCART_EVENT_LOOP=asyncio` turns it
off, to compare the two or to rule the loop out while chasing a bug.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

from hashcart.errors import ConfigError

T = TypeVar("T")
LoopChoice = Literal["auto", "uvloop", "asyncio"]


def run(main: Coroutine[Any, Any, T], choice: LoopChoice = "auto") -> T:
    """`asyncio.run` on the chosen loop."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if choice != "asyncio":
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:
            if choice == "uvloop":
                main.close()  # never started: no "coroutine was never awaited" warning
                raise ConfigError("HASHCART_EVENT_LOOP: uvloop is not installed") from None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def tune_collector() -> None:
    """Once a node has started: what lives as long as the process (modules, plugins, settings,
    the caches filled at start) leaves the collector's sight, and the young generation is
    collected every 50,000 allocations instead of 700. A burst of requests allocates many
    short-lived objects; with the defaults a 3,000-reaction burst ran 1,546 collections taking
    17.4 s of CPU, against 1.1 s with this threshold (bench/README.md, "Discord")."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
