"""What the plugin uses of the `Hashcart` object it is handed, stated as a protocol.

Plugins may import only `hashcart` itself; naming the few members we rely on keeps the plugin
type-checked without reaching into `hashcart.app`.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import aiohttp
from pydantic_settings import BaseSettings

from hashcart import CartCommand, Outcome, ProductRef

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class KeyValue(Protocol):
    async def get(self, namespace: str, key: str) -> Any | None: ...

    async def put(self, namespace: str, key: str, value: Any, ttl: float | None = None) -> None: ...

    async def keys(self, namespace: str) -> list[str]: ...


class Host(Protocol):
    http_timeout: aiohttp.ClientTimeout

    @property
    def kv(self) -> KeyValue: ...

    async def submit(self, command: CartCommand) -> Outcome: ...

    async def resolve_reference(self, text: str) -> ProductRef | None: ...

    def count_platform_error(self, platform: str, kind: str) -> None: ...

    def count_platform_event(self, platform: str, kind: str, amount: int = 1) -> None: ...

    async def standing_states(self, prefix: str) -> list[str]: ...

    def translate(self, locale: str | None, msgid: str, **params: Any) -> str: ...

    def settings_for(self, model: type[SettingsT]) -> SettingsT: ...
