"""The loop shared by the core's background workers (the reply sender, the order placer).

Each drains what is due, goes on at once while there is more, and otherwise sleeps until woken
(a commit queued work) or until the poll interval passes (work queued by another node).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hashcart.scrub import scrub

log = logging.getLogger("hashcart")


class DrainingWorker:
    """Subclasses implement `drain_once`, returning how many rows it handled."""

    #: Names the task and the log lines.
    worker_name = "worker"

    def __init__(self, poll_seconds: float) -> None:
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"hashcart-{self.worker_name}")

    async def stop(self, grace: float = 5.0) -> None:
        """Finish the work in progress (up to `grace` seconds); the rest stays queued."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, grace)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def drain_once(self) -> int:
        raise NotImplementedError

    async def drain_in_loop(self) -> int:
        """What the worker's own loop runs: `drain_once`, unless a subclass may leave some of
        its bookkeeping to the drain that follows at once."""
        return await self.drain_once()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                handled = await self.drain_in_loop()
            except Exception as exc:
                log.warning("%s: %s", self.worker_name.replace("-", " "), scrub(str(exc)))
                handled = 0
            if handled and not self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)
            self._wake.clear()
