"""Work a platform started and must see finished before it stops: an event acknowledged before it
was applied (Slack's 3 s, a streamed post X will not send again) is recorded, then late tasks are
cancelled so nothing outlives the platform."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class TrackedTasks:
    """A set of running tasks that `drain` finishes. With `failures` set, a task that fails is
    logged under that name (the task's own code logs nothing then)."""

    def __init__(self, failures: str | None = None) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failures = failures

    def spawn(self, work: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self.track(task)
        return task

    def track(self, task: asyncio.Task[Any] | None = None) -> None:
        """Hold `task` (by default the one running now) until it is done."""
        task = task or asyncio.current_task()
        assert task is not None, "track() outside a task"
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if self._failures and not task.cancelled() and task.exception() is not None:
            log.error("%s failed", self._failures, exc_info=task.exception())

    def __len__(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    async def drain(self, grace: float) -> int:
        """Wait up to `grace` seconds for the tasks, then cancel the ones still running and
        wait for them to end. Returns how many had to be cancelled."""
        me = asyncio.current_task()
        pending = {task for task in self._tasks if not task.done() and task is not me}
        if not pending:
            return 0
        _, late = await asyncio.wait(pending, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        return len(late)
