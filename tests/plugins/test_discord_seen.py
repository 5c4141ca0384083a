"""The messages the Discord plugin remembers for catching up: written in groups, not one
transaction per reaction, and every reaction still waits until its message is written."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, cast

from hashcart import Host
from hashcart_discord.reconcile import KV_REACTED, SeenMessage, SeenMessages


class SlowKeyValue:
    """A key-value store whose writes take a while, as a transaction behind others does."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0
        self.failing = False

    async def put(self, namespace: str, key: str, value: Any, ttl: float | None = None) -> None:
        self.writes += 1
        await asyncio.sleep(0.05)
        if self.failing:
            raise ConnectionError("database away")
        self.values[key] = value

    async def get(self, namespace: str, key: str) -> Any | None:
        return self.values.get(key)

    async def keys(self, namespace: str) -> list[str]:
        assert namespace == KV_REACTED
        return sorted(self.values)


class FakeHost:
    def __init__(self) -> None:
        self.kv = SlowKeyValue()
        self.errors: list[str] = []

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return asyncio.create_task(coro)

    def count_platform_error(self, platform: str, kind: str) -> None:
        self.errors.append(kind)


def message(number: int) -> SeenMessage:
    return SeenMessage(guild_id=1, channel_id=2, message_id=1000 + number)


async def test_messages_seen_together_are_written_together() -> None:
    host = FakeHost()
    seen = SeenMessages(cast(Host, host), minutes=5)
    first = asyncio.create_task(seen.remember(message(0)))
    await asyncio.sleep(0.01)  # the first write is in flight: the next ones wait for it
    await asyncio.gather(first, *(seen.remember(message(n)) for n in range(1, 100)))

    assert host.kv.writes == 2
    assert [s.message_id for s in await seen.recent()] == [1000 + n for n in reversed(range(100))]

    await seen.remember(message(5))  # written a moment ago: not again
    assert host.kv.writes == 2


async def test_a_reaction_waits_until_its_message_is_written() -> None:
    host = FakeHost()
    seen = SeenMessages(cast(Host, host), minutes=5)
    await seen.remember(message(1))
    assert [s.message_id for s in await seen.recent()] == [1001]


async def test_a_failed_write_is_counted_and_tried_again_next_time() -> None:
    host = FakeHost()
    seen = SeenMessages(cast(Host, host), minutes=5)
    host.kv.failing = True
    await asyncio.gather(*(seen.remember(message(n)) for n in range(3)))
    assert host.errors == ["remember"] * 3
    assert await seen.recent() == []

    host.kv.failing = False
    await seen.remember(message(0))
    assert [s.message_id for s in await seen.recent()] == [1000]


async def test_nothing_is_written_when_catching_up_is_off() -> None:
    host = FakeHost()
    await SeenMessages(cast(Host, host), minutes=0).remember(message(1))
    assert host.kv.writes == 0


async def test_a_message_remembered_one_key_each_before_is_still_known() -> None:
    host = FakeHost()
    host.kv.values["1:2:999"] = 1  # written by the version that kept one key per message
    seen = SeenMessages(cast(Host, host), minutes=5)
    await seen.remember(message(1))
    assert [s.message_id for s in await seen.recent()] == [1001, 999]
