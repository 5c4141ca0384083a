"""Local stand-ins: fake servers that real client libraries accept.

The platform-neutral ones live here. Each platform's stand-in ships with its plugin, in
`hashcart_<name>.testing`, imported only by `load_standins`: the core imports no plugin and
production imports no test code.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any, Self

import aiohttp
import pluggy
from aiohttp import web

from hashcart import hookspecs
from hashcart.plugins import ENTRY_POINT_GROUP
from hashcart.standin import Standin

__all__ = ["LocalServer", "Standin", "load_standins"]


class LocalServer:
    """A stand-in's HTTP server on a loopback port, started and stopped as an async context
    manager; the stand-in builds its application in `make_app()`."""

    url: str = ""
    #: Seconds one delivery to the app under test (a webhook, an event) may take.
    delivery_timeout: float = 30.0
    _runner: web.AppRunner | None = None
    _deliveries: aiohttp.ClientSession | None = None

    def make_app(self) -> web.Application:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound = self._runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        return self.url

    def delivery_session(self) -> aiohttp.ClientSession:
        """The session the stand-in posts to the app under test with, closed by `stop()`."""
        if self._deliveries is None or self._deliveries.closed:
            timeout = aiohttp.ClientTimeout(total=self.delivery_timeout)
            self._deliveries = aiohttp.ClientSession(timeout=timeout)
        return self._deliveries

    async def stop(self) -> None:
        if self._deliveries is not None:
            await self._deliveries.close()
            self._deliveries = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def load_standins(names: Iterable[str] | None = None) -> dict[str, Any]:
    """New, unstarted stand-ins offered by the installed plugins' test kits, by platform.

    `names` limits the plugins asked (entry point names); a plugin without a `testing` package
    offers none. The values are typed `Any`: beyond `Standin`, callers use what the one
    platform's stand-in offers (posting a tweet, typing a slash command)."""
    allow = None if names is None else set(names)
    manager = pluggy.PluginManager("hashcart")
    manager.add_hookspecs(hookspecs)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if allow is not None and ep.name not in allow:
            continue
        kit = f"{ep.module}.testing"
        if importlib.util.find_spec(ep.module) is None or importlib.util.find_spec(kit) is None:
            continue
        manager.register(importlib.import_module(kit), name=ep.name)
    found: dict[str, Any] = {}
    for offered in manager.hook.hashcart_standins():
        for standin in offered if isinstance(offered, list | tuple) else [offered]:
            assert isinstance(standin, Standin), f"{standin!r} is no Standin"
            found[standin.platform] = standin
    return found
