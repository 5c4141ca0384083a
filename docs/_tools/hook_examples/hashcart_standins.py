# In hashcart_echo/testing/__init__.py: the core imports it only when a stand-in is asked for.
from aiohttp import web

from hashcart import hookimpl


class EchoStandin:
    """A local echo API: the real plugin talks to it as it talks to echo.example."""

    platform = "echo"

    def __init__(self) -> None:
        self.received: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _post(self, request: web.Request) -> web.Response:
        self.received.append(await request.text())
        return web.json_response({"ok": True})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/messages", self._post)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def plugin_env(self) -> dict[str, str]:
        return {"HASHCART_ECHO_API_URL": self.url}


@hookimpl
def hashcart_standins() -> EchoStandin:
    return EchoStandin()
