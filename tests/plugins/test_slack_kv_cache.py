"""The Slack plugin's short-lived copies of bot tokens and revocations (`kv_cache`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hashcart_slack import kv_cache
from hashcart_slack.kv_cache import CachedKeyValue

CACHED = "slack.bots"


class CountingKv:
    """A key-value store in a dict that counts the reads reaching it."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], Any] = {}
        self.reads = 0
        self.read_gate: asyncio.Event | None = None

    async def get(self, namespace: str, key: str) -> Any | None:
        self.reads += 1
        value = self.data.get((namespace, key))
        if self.read_gate is not None:
            await self.read_gate.wait()
        return value

    async def put(self, namespace: str, key: str, value: Any, ttl: float | None = None) -> None:
        self.data[(namespace, key)] = value

    async def delete(self, namespace: str, key: str) -> bool:
        return self.data.pop((namespace, key), None) is not None

    async def keys(self, namespace: str) -> list[str]:
        return sorted(key for ns, key in self.data if ns == namespace)


async def test_repeated_reads_reach_the_database_once() -> None:
    kv = CountingKv()
    kv.data[(CACHED, "T1")] = {"bot_token": "xoxb-1"}
    cached = CachedKeyValue(kv, frozenset({CACHED}))
    for _ in range(5):
        assert await cached.get(CACHED, "T1") == {"bot_token": "xoxb-1"}
        assert await cached.get(CACHED, "absent") is None
    assert kv.reads == 2


async def test_other_namespaces_are_always_read() -> None:
    kv = CountingKv()
    cached = CachedKeyValue(kv, frozenset({CACHED}))
    await cached.get("slack.oauth_states", "s")
    await cached.get("slack.oauth_states", "s")
    assert kv.reads == 2


async def test_a_write_on_this_node_is_seen_at_once() -> None:
    kv = CountingKv()
    cached = CachedKeyValue(kv, frozenset({CACHED}))
    assert await cached.get(CACHED, "T1") is None
    await cached.put(CACHED, "T1", {"bot_token": "xoxb-1"})
    assert await cached.get(CACHED, "T1") == {"bot_token": "xoxb-1"}
    assert await cached.delete(CACHED, "T1")
    assert await cached.get(CACHED, "T1") is None


async def test_another_nodes_write_is_seen_once_the_copy_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(kv_cache.time, "monotonic", lambda: now[0])
    kv = CountingKv()
    kv.data[(CACHED, "T1")] = {"bot_token": "xoxb-1"}
    cached = CachedKeyValue(kv, frozenset({CACHED}), seconds=60)
    assert await cached.get(CACHED, "T1") is not None
    del kv.data[(CACHED, "T1")]  # uninstalled through another node
    now[0] += 59
    assert await cached.get(CACHED, "T1") is not None
    now[0] += 2
    assert await cached.get(CACHED, "T1") is None


async def test_a_read_that_raced_a_write_is_not_kept() -> None:
    kv = CountingKv()
    kv.data[(CACHED, "T1")] = {"bot_token": "xoxb-old"}
    cached = CachedKeyValue(kv, frozenset({CACHED}))
    kv.read_gate = asyncio.Event()
    slow_read = asyncio.create_task(cached.get(CACHED, "T1"))
    await asyncio.sleep(0)
    await cached.delete(CACHED, "T1")
    kv.read_gate.set()
    assert await slow_read == {"bot_token": "xoxb-old"}
    kv.read_gate = None
    assert await cached.get(CACHED, "T1") is None


async def test_the_least_recently_read_are_dropped_beyond_the_bound() -> None:
    kv = CountingKv()
    cached = CachedKeyValue(kv, frozenset({CACHED}), max_entries=2)
    for key in ("a", "b", "a", "c"):
        await cached.get(CACHED, key)
    reads = kv.reads
    await cached.get(CACHED, "a")
    await cached.get(CACHED, "c")
    assert kv.reads == reads
    await cached.get(CACHED, "b")
    assert kv.reads == reads + 1
