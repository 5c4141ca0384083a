"""Cart changes, pushed to whoever watches them (the cart page's live updates).

Within a process a change wakes the watchers of that account at once. On PostgreSQL every
change is also sent with `NOTIFY` and every node `LISTEN`s on a connection of its own, so a
change applied on one node reaches a page served by another; while that connection is down
nothing is missed for long: on reconnecting, every watcher is woken once. The database is never
polled: a page with nothing changing costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.store import is_postgres

log = logging.getLogger(__name__)

CHANNEL = "hashcart_carts"
#: Account ids per NOTIFY (PostgreSQL allows payloads of up to 8000 bytes).
IDS_PER_NOTIFY = 200
#: How often the listening connection is checked; how long to wait before connecting again.
CHECK_SECONDS = 30.0
RECONNECT_SECONDS = 2.0
CONNECT_TIMEOUT = 10.0
#: How long the changes of several commits are gathered into one NOTIFY.
GATHER_SECONDS = 0.05

NOTIFY = sa.text("SELECT pg_notify(:channel, :payload)")


class CartChanges:
    def __init__(self) -> None:
        self._watchers: dict[str, set[asyncio.Event]] = {}
        #: Our own notifications come back to us; this tells them apart.
        self.node = secrets.token_hex(6)
        self._engine: AsyncEngine | None = None
        self._unsent: set[str] = set()
        self._send_wanted = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._listener_ended = asyncio.Event()
        self.listening = asyncio.Event()

    # -- watching ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def watch(self, account_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the account's cart may have changed (the watcher clears it)."""
        woken = asyncio.Event()
        self._watchers.setdefault(account_id, set()).add(woken)
        try:
            yield woken
        finally:
            watchers = self._watchers.get(account_id)
            if watchers is not None:
                watchers.discard(woken)
                if not watchers:
                    del self._watchers[account_id]

    def wake_all(self) -> None:
        for watchers in self._watchers.values():
            for woken in watchers:
                woken.set()

    def _wake(self, account_ids: Iterable[str]) -> None:
        for account_id in account_ids:
            for woken in self._watchers.get(account_id, ()):
                woken.set()

    # -- announcing --------------------------------------------------------------------------

    def changed(self, account_ids: Iterable[str | None]) -> None:
        """These accounts' carts changed (and the change is committed)."""
        ids = {account_id for account_id in account_ids if account_id}
        if not ids:
            return
        self._wake(ids)
        if self._engine is not None:
            self._unsent |= ids
            self._send_wanted.set()

    # -- across nodes (PostgreSQL) -----------------------------------------------------------

    async def start(self, engine: AsyncEngine) -> None:
        if not is_postgres(engine) or self._tasks:
            return
        self._engine = engine
        self._stopping.clear()
        dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._tasks = [
            asyncio.create_task(self._send_loop(engine), name="hashcart-notify-send"),
            asyncio.create_task(self._listen_loop(dsn), name="hashcart-notify-listen"),
        ]

    async def stop(self) -> None:
        self._stopping.set()
        self._send_wanted.set()
        self._listener_ended.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._engine = None

    async def _send_loop(self, engine: AsyncEngine) -> None:
        while True:
            await self._send_wanted.wait()
            # Under load a group commits every few milliseconds; one NOTIFY for all the changes
            # of a short while costs a round trip per while instead of one per group. Pages on
            # this node were woken at once; other nodes' pages are this much later.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), GATHER_SECONDS)
            self._send_wanted.clear()
            ids, self._unsent = sorted(self._unsent), set()
            if ids:
                try:
                    # Each NOTIFY stands alone: in autocommit it is one round trip, not three
                    # with the BEGIN and COMMIT around it (this runs after nearly every group).
                    async with engine.connect() as conn:
                        await conn.execution_options(isolation_level="AUTOCOMMIT")
                        for start in range(0, len(ids), IDS_PER_NOTIFY):
                            chunk = ",".join(ids[start : start + IDS_PER_NOTIFY])
                            await conn.execute(
                                NOTIFY, {"channel": CHANNEL, "payload": f"{self.node}:{chunk}"}
                            )
                except Exception as exc:
                    # Other nodes' pages see this change on their next change or reconnect.
                    log.warning("cart change notification not sent: %s", exc)
            if self._stopping.is_set():
                return

    async def _listen_loop(self, dsn: str) -> None:
        while not self._stopping.is_set():
            try:
                await self._listen_once(dsn)
            except Exception as exc:
                log.warning("listening for cart changes failed: %s", exc)
            self.listening.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), RECONNECT_SECONDS)

    async def _listen_once(self, dsn: str) -> None:
        conn: Any = await asyncio.wait_for(asyncpg.connect(dsn), CONNECT_TIMEOUT)
        try:
            ended = self._listener_ended = asyncio.Event()  # connection lost, or stopping
            conn.add_termination_listener(lambda _conn: ended.set())
            await conn.add_listener(CHANNEL, self._on_notify)
            self.listening.set()
            self.wake_all()  # whatever changed while we were not listening
            while not ended.is_set() and not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), CHECK_SECONDS)
                if not ended.is_set() and not self._stopping.is_set():
                    await asyncio.wait_for(conn.execute("SELECT 1"), CONNECT_TIMEOUT)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), CONNECT_TIMEOUT)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        node, _, ids = payload.partition(":")
        if node != self.node:
            self._wake(filter(None, ids.split(",")))
