"""Fault points: named places where a crash test can hold a node still long enough to kill it.

`HASHCART_FAULTS="slack.recorded=5,orders.before_shop=3"` makes a node sleep that long at each
named point, so a test can SIGKILL it inside a window otherwise microseconds wide; each point
reached is a line in `HASHCART_FAULTS_REPORT`, so the test knows when to strike. Unset in
production, a point costs one dictionary lookup.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping


def parse_faults(text: str) -> dict[str, float]:
    """`name=seconds,name=seconds` → {name: seconds}; malformed entries are ignored."""
    delays: dict[str, float] = {}
    for entry in text.split(","):
        name, sep, seconds = entry.strip().partition("=")
        if not sep or not name:
            continue
        try:
            delays[name.strip()] = max(0.0, float(seconds))
        except ValueError:
            continue
    return delays


class FaultPoints:
    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self.delays = parse_faults(environ.get("HASHCART_FAULTS", ""))
        self.report = environ.get("HASHCART_FAULTS_REPORT") or None

    async def reach(self, name: str) -> None:
        delay = self.delays.get(name)
        if delay is None:
            return
        if self.report is not None:
            await asyncio.to_thread(self._write_report, name)
        if delay:
            await asyncio.sleep(delay)

    def _write_report(self, name: str) -> None:
        assert self.report is not None
        with open(self.report, "a", encoding="utf-8") as out:
            out.write(f"{name} {os.getpid()}\n")


_points = FaultPoints()


async def fault_point(name: str) -> None:
    """Pause here when a crash test asked for it (see the module docstring); else do nothing."""
    if _points.delays:
        await _points.reach(name)
