"""The part of the `Hashcart` object this plugin uses, as a protocol.

Plugins may import only the top-level `hashcart` package, so the application class itself is not
importable here; naming what we rely on keeps the plugin type-checked and easy to fake.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import aiohttp
from pydantic_settings import BaseSettings

from hashcart import CartCommand, Outcome, ProductRef

S = TypeVar("S", bound=BaseSettings)


class KeyValue(Protocol):
    async def get(self, namespace: str, key: str) -> Any | None: ...

    async def put(self, namespace: str, key: str, value: Any, ttl: float | None = None) -> None: ...

    async def delete(self, namespace: str, key: str) -> None: ...


class CoreSettings(Protocol):
    @property
    def public_url(self) -> str: ...

    @property
    def hashtag(self) -> str: ...


class Core(Protocol):
    @property
    def settings(self) -> CoreSettings: ...

    @property
    def kv(self) -> KeyValue: ...

    @property
    def http_timeout(self) -> aiohttp.ClientTimeout: ...

    def settings_for(self, model: type[S]) -> S: ...

    async def submit(self, command: CartCommand, *, within: float | None = None) -> Outcome: ...

    async def resolve_reference(self, text: str) -> ProductRef | None: ...

    def translate(self, locale: str | None, msgid: str, **params: Any) -> str: ...

    def count_platform_error(self, platform: str, kind: str) -> None: ...
