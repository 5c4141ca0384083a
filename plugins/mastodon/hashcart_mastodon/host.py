"""What the plugin uses of the `Hashcart` object it is handed, stated as a protocol.

Plugins may import only `hashcart` itself, and `hashcart.Hashcart` is not visible to a type
checker from there; naming the members we rely on keeps the plugin checked and easy to fake.
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


class CoreSettings(Protocol):
    @property
    def hashtag(self) -> str: ...


class Host(Protocol):
    http_timeout: aiohttp.ClientTimeout

    @property
    def settings(self) -> CoreSettings: ...

    @property
    def kv(self) -> KeyValue: ...

    def settings_for(self, model: type[SettingsT]) -> SettingsT: ...

    async def submit(self, command: CartCommand) -> Outcome: ...

    async def resolve_reference(self, text: str) -> ProductRef | None: ...

    def count_platform_error(self, platform: str, kind: str) -> None: ...

    def translate(self, locale: str | None, msgid: str, **params: Any) -> str: ...
