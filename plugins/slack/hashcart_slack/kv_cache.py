"""Recent key-value reads kept in memory for a short while: the bot tokens and revocations.

Bolt's authorize step looks the workspace's installation up on every request, and every answer
asks whether the workspace is gone; on PostgreSQL each lookup is a round trip, as many as the
rest of a command's work together. Both change only on (re)install, uninstall or revocation.
This node forgets its copy as soon as it writes one (the `app_uninstalled`/`tokens_revoked`
handling and the OAuth redirect go through here); other nodes see the change when their copy
expires, after `CACHE_SECONDS` at most. Until then they may still try to answer an
uninstalled workspace; what Slack refuses (a dead token) is given up, not retried.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from hashcart import KeyValue

#: How long a read is trusted on this node; other nodes see a change within this time.
CACHE_SECONDS = 60.0

#: Workspaces remembered at most; the least recently read go first.
MAX_ENTRIES = 10_000


class CachedKeyValue:
    """A `KeyValue` whose reads of some namespaces come from memory for `CACHE_SECONDS`.

    Absent keys are remembered too: "this token was not revoked" is the answer nearly every
    reply asks for.
    """

    def __init__(
        self,
        kv: KeyValue,
        namespaces: frozenset[str],
        *,
        seconds: float = CACHE_SECONDS,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._kv = kv
        self._namespaces = namespaces
        self._seconds = seconds
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[float, Any]] = OrderedDict()
        # Bumped by every write, so that a read which started before a write does not keep what
        # it read once the write is done.
        self._writes = 0

    async def get(self, namespace: str, key: str) -> Any | None:
        if namespace not in self._namespaces:
            return await self._kv.get(namespace, key)
        slot = (namespace, key)
        entry = self._entries.get(slot)
        now = time.monotonic()
        if entry is not None and entry[0] > now:
            self._entries.move_to_end(slot)
            return entry[1]
        writes = self._writes
        value = await self._kv.get(namespace, key)
        if writes != self._writes:
            return value
        self._entries[slot] = (now + self._seconds, value)
        self._entries.move_to_end(slot)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return value

    async def put(self, namespace: str, key: str, value: Any, ttl: float | None = None) -> None:
        self._writes += 1
        self._entries.pop((namespace, key), None)
        await self._kv.put(namespace, key, value, ttl)
        self._writes += 1

    async def delete(self, namespace: str, key: str) -> bool:
        self._writes += 1
        self._entries.pop((namespace, key), None)
        try:
            return await self._kv.delete(namespace, key)
        finally:
            self._writes += 1

    async def keys(self, namespace: str) -> list[str]:
        return await self._kv.keys(namespace)
