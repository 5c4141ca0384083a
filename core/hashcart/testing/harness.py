"""A real hashcart server on a temporary database, for tests and the playground."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from aiohttp import web

from hashcart.app import Hashcart
from hashcart.catalog import CatalogEntry
from hashcart.config import Settings, load_settings
from hashcart.plugins import ENTRY_POINT_GROUP
from hashcart.store import upgrade
from hashcart.store.schema import outbox
from hashcart.web import serving

T = TypeVar("T")

#: An admin token and a session secret long enough for the start-up checks; tests import these.
ADMIN_TOKEN = "test-admin-token-4f9c2a7e1b8d"
SESSION_SECRET = "test-session-secret-8b3e5d1f7a2c"


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    timeout: float = 5.0,  # noqa: ASYNC109 - a polling deadline, not a cancellation scope
    interval: float = 0.02,
) -> T:
    """Poll `check` until it returns something truthy; fail with its last value after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def patched_env(env: Mapping[str, str]) -> Any:
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class RunningHashcart:
    """A started hashcart with its HTTP server; helpers read its state the way an operator would."""

    hashcart: Hashcart
    url: str
    app: web.Application

    async def add_product(
        self,
        product_id: str,
        title: str = "A product",
        price_cents: int = 1000,
        currency: str = "USD",
        available: bool = True,
    ) -> None:
        await self.hashcart.catalog.upsert(
            [CatalogEntry(product_id, title, price_cents, currency, available)]
        )

    async def link(self, account_name: str, platform: str, user_id: str) -> str:
        """Create (or reuse) an account and link an identity to it; returns the account id."""
        found = await self.hashcart.accounts.find(name=account_name)
        account_id = (
            found[0]["id"] if found else (await self.hashcart.accounts.create(account_name))["id"]
        )
        await self.hashcart.link_identity(account_id, platform, user_id)
        return str(account_id)

    async def cart(self, platform: str, user_id: str) -> list[dict[str, Any]] | None:
        cart = await self.hashcart.accounts.cart_of_identity(platform, user_id)
        return None if cart is None else list(cart["items"])

    async def events(self, limit: int = 100) -> list[dict[str, Any]]:
        return await self.hashcart.accounts.events(limit)

    async def outbox(self) -> list[dict[str, Any]]:
        """Every queued reply with its status, oldest first."""
        async with self.hashcart.engine.connect() as conn:
            rows = await conn.execute(sa.select(outbox).order_by(outbox.c.id))
            return [dict(row._mapping) for row in rows]


@contextlib.asynccontextmanager
async def running_hashcart(
    plugins: Sequence[object] = (),
    env: Mapping[str, str] | None = None,
    database_url: str | None = None,
    *,
    with_amazon: bool = True,
    port: int | None = None,
) -> AsyncIterator[RunningHashcart]:
    """Start hashcart (server, platforms, reply sender) on a fresh database; stop it afterwards.

    Installed plugins are not loaded (tests stay hermetic); pass the ones you test in `plugins`.
    """
    port = port or free_port()
    with contextlib.ExitStack() as stack:
        if database_url is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="hashcart-"))
            database_url = f"sqlite+aiosqlite:///{Path(folder) / 'hashcart.db'}"
        base_env = {
            "HASHCART_DATABASE_URL": database_url,
            "HASHCART_HOST": "127.0.0.1",
            "HASHCART_PORT": str(port),
            "HASHCART_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "HASHCART_RATE_LIMIT_PER_MINUTE": "0",
            "HASHCART_RATE_LIMIT_PER_HOUR": "0",
        }
        stack.enter_context(patched_env({**base_env, **(env or {})}))
        settings = load_settings(Settings)
        await upgrade(settings.database_url)
        chosen = list(plugins)
        if with_amazon:
            # By entry point: the kit may not import a plugin.
            found = entry_points(group=ENTRY_POINT_GROUP, name="amazon")
            amazon = next((ep.load() for ep in found), None)
            if amazon is not None and amazon not in chosen:
                chosen.insert(0, amazon)
        hashcart = Hashcart(settings, plugins=chosen, load_entry_points=False)
        async with serving(hashcart, "127.0.0.1", port) as app:
            yield RunningHashcart(hashcart, f"http://127.0.0.1:{port}", app)
