"""A small LRU cache with expiry that also shares one in-flight lookup among concurrent callers.

Several people reacting to one popular message should cost one REST fetch, not one each.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    def __init__(self, *, size: int = 512, ttl: float = 300.0) -> None:
        self._size = size
        self._ttl = ttl
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def put(self, key: K, value: V) -> None:
        self._items[key] = (time.monotonic() + self._ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def peek(self, key: K) -> V | None:
        found = self._items.get(key)
        return found[1] if found is not None and found[0] > time.monotonic() else None


class AsyncLru(Lru[K, V]):
    def __init__(
        self, load: Callable[[K], Awaitable[V]], *, size: int = 512, ttl: float = 300.0
    ) -> None:
        super().__init__(size=size, ttl=ttl)
        self._load = load
        self._loading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K) -> V:
        found = self._items.get(key)
        if found is not None and found[0] > time.monotonic():
            self._items.move_to_end(key)
            return found[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await self._load(key)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marks it retrieved when nobody else was waiting
            raise
        else:
            future.set_result(value)
            self.put(key, value)
            return value
        finally:
            del self._loading[key]
