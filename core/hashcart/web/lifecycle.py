"""The one start-up and shutdown order of a serving hashcart, for `serve`, the playground and
the test kit alike.

The Hashcart runs inside the web application's `cleanup_ctx`: it starts before the socket
listens and stops after the server has finished the requests in flight. A request waiting on
the applier therefore gets its answer before the applier stops, so a 200 means recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from hashcart.app import Hashcart
from hashcart.errors import ConfigError
from hashcart.web.server import HASHCART_KEY, build_web_app


async def _hashcart_running(app: web.Application) -> AsyncIterator[None]:
    """Database, applier, reply sender and platforms up while the application runs; stopped
    in the reverse order once no request is left (see `Hashcart.stop`)."""
    hashcart = app[HASHCART_KEY]
    await hashcart.start()
    yield
    await hashcart.stop()


@asynccontextmanager
async def serving(hashcart: Hashcart, host: str, port: int) -> AsyncIterator[web.Application]:
    """`hashcart` started and listening on `host:port` until the block ends; then no new
    connection is accepted, the requests in flight finish, and the Hashcart stops."""
    app = build_web_app(hashcart)
    app.cleanup_ctx.append(_hashcart_running)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port, reuse_address=True).start()
        except OSError as exc:
            raise ConfigError(
                f"HASHCART_PORT: cannot listen on {host}:{port}: {exc.strerror}"
            ) from None
        yield app
    finally:
        await runner.cleanup()
