"""A plugin route that lets `submit`'s `Unavailable` through answers 503, not 500."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from hashcart import Unavailable
from hashcart.web.server import errors_as_json


async def test_unavailable_from_a_route_is_a_503_and_other_errors_stay_500() -> None:
    async def not_recorded(request: web.Request) -> web.Response:
        raise Unavailable("the database is unreachable")

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = web.Application(middlewares=[errors_as_json])
    app.router.add_post("/unavailable", not_recorded)
    app.router.add_post("/broken", broken)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/unavailable") as response:
                assert response.status == 503
                assert (await response.json())["error"]["code"] == "unavailable"
            async with session.post(f"{base}/broken") as response:
                assert response.status == 500
    finally:
        await runner.cleanup()
