"""A stand-in's own server on 127.0.0.1: every stand-in started, stopped and entered it alike."""

from __future__ import annotations

from typing import Self

from aiohttp import web


class Served:
    """Serves `make_app()` on a port of its own; `url` says where once it has started."""

    url: str = ""
    _runner: web.AppRunner | None = None

    def make_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.url = f"http://{host}:{int(self._runner.addresses[0][1])}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
