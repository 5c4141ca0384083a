"""`hashcart.Host`: everything a plugin may use of the `Hashcart` object its hooks are handed.

The application class drags in the storage and the web server; a protocol keeps plugins
type-checked against the surface they may rely on and lets their tests pass a small fake. A
member added here is a promise to every plugin (mypy checks that `Hashcart` keeps it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic_settings import BaseSettings

from hashcart.commands import CartCommand, Outcome, ProductRef

if TYPE_CHECKING:
    import aiohttp

SettingsT = TypeVar("SettingsT", bound=BaseSettings)
T = TypeVar("T")


class KeyValue(Protocol):
    """Durable plugin state shared by every node: installations, cursors, seen ids."""

    async def get(self, namespace: str, key: str) -> Any | None: ...

    async def put(self, namespace: str, key: str, value: Any, ttl: float | None = None) -> None: ...

    async def delete(self, namespace: str, key: str) -> bool: ...

    async def keys(self, namespace: str) -> list[str]: ...


class Leases(Protocol):
    """Work that must run on exactly one node of a cluster at a time (a platform's stream)."""

    async def run_exclusively(
        self,
        name: str,
        work: Callable[[], Awaitable[Any]],
        *,
        ttl: float = 10.0,
        stop: asyncio.Event | None = None,
    ) -> None: ...


class Quotas(Protocol):
    """Call quotas shared by every node, such as an API's "one request a second"."""

    async def wait_for_slot(
        self, key: str, per_window: int, window_seconds: int, max_wait: float
    ) -> float | None: ...


class Accounts(Protocol):
    """hashcart's accounts, for a plugin that signs people in (`hashcart_authenticate`)."""

    async def find(
        self, *, name: str | None = None, platform: str | None = None, user_id: str | None = None
    ) -> list[dict[str, Any]]: ...

    async def create(self, name: str) -> dict[str, Any]: ...


class CoreSettings(Protocol):
    """The core settings a plugin may read."""

    @property
    def public_url(self) -> str: ...

    @property
    def hashtag(self) -> str: ...


class Host(Protocol):
    """What a plugin may use of the running hashcart, the object every hook receives."""

    @property
    def settings(self) -> CoreSettings: ...

    @property
    def http_timeout(self) -> aiohttp.ClientTimeout:
        """The timeout of every outbound call that has no tighter one of its own."""

    @property
    def kv(self) -> KeyValue: ...

    @property
    def leases(self) -> Leases: ...

    @property
    def counters(self) -> Quotas: ...

    @property
    def accounts(self) -> Accounts: ...

    def settings_for(self, model: type[SettingsT]) -> SettingsT:
        """The validated settings of a plugin's model (see the `hashcart_settings` hook)."""

    async def submit(self, command: CartCommand, *, within: float | None = None) -> Outcome:
        """Apply a command exactly once and queue its answer; see `hashcart.CartCommand`.

        Raises `hashcart.Unavailable` when it could not be recorded, so the caller can ask the
        platform to deliver it again. With `within` seconds, a command not recorded by then is
        withdrawn (`Unavailable`, and it is never applied later), for platforms that must answer
        in time and never deliver again; one already inside a transaction is waited for.
        """

    async def resolve_reference(self, text: str) -> ProductRef | None:
        """The product a link, a short link (followed via `hashcart_resolve_redirect`) or a
        barcode names, if any."""

    def translate(self, locale: str | None, msgid: str, **params: Any) -> str:
        """`msgid` in `locale`; a plural message takes its number from `n=` (or its own `count`
        / `minutes`)."""

    def money(self, cents: int, currency: str, locale: str | None) -> str:
        """A price for people, written the way `locale` writes prices."""

    def count_platform_error(self, platform: str, kind: str) -> None: ...

    def count_platform_event(self, platform: str, kind: str, amount: int = 1) -> None:
        """Count something a plugin did for `/metrics` (`hashcart_platform_events_total`)."""

    async def standing_states(self, prefix: str) -> list[str]:
        """The `hashcart.StateChange` keys starting with `prefix` that stand now: what a plugin
        compares with the platform after missing events."""

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `coro` in the background; `Hashcart.stop` waits for it before closing storage."""
