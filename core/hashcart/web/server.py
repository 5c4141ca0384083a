"""The aiohttp application: middlewares, health, metrics, and the routes plugins contribute.

Behind a reverse proxy every request comes from the proxy's address; per-address limits keyed on
it would treat all visitors as one. The proxy names the client in `X-Forwarded-For` (or
`Forwarded`), but so can anybody who reaches hashcart directly, so those headers are only read
when the connection comes from an address in `HASHCART_FORWARDED_ALLOW_IPS` (the convention of
uvicorn and gunicorn). The list a header carries is read from the right, the hops nearest to us
first; the first address that is not one of our proxies is the client. Parsing and matching
come from aiohttp-remotes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from ipaddress import ip_address
from pathlib import Path

import sqlalchemy as sa
from aiohttp import hdrs, web
from aiohttp_remotes.exceptions import IPAddress, IPNetwork, RemoteError, UntrustedIP
from aiohttp_remotes.utils import check_ip, parse_trusted_element
from aiohttp_remotes.x_forwarded import XForwardedBase
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hashcart.app import Hashcart
from hashcart.errors import ConfigError, Unavailable
from hashcart.scrub import scrub
from hashcart.store.schema import outbox

log = logging.getLogger(__name__)

HASHCART_KEY: web.AppKey[Hashcart] = web.AppKey("hashcart", Hashcart)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    """The one error shape of the whole HTTP surface: `{"error": {"code", "message"}}`."""
    return web.Response(
        status=status,
        text=json.dumps({"error": {"code": code, "message": message}}),
        content_type="application/json",
        headers=headers,
    )


STATIC = Path(__file__).parent / "static"
STATIC_PREFIX = "/static/"
STATIC_CACHE = "public, max-age=300"

#: Pages for people: their errors stay HTML.
HTML_PAGES = ("/link/", "/cart", "/signin", "/signup", "/signout", "/playground")

_REASON_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid",
}


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp raises HTTP errors as exceptions with text bodies; answer them as JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        if request.path.startswith(HTML_PAGES) and exc.content_type == "text/html":
            raise
        code = _REASON_CODES.get(exc.status, "error")
        message = exc.reason if exc.status != 413 else "request body is too large"
        passed = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return json_error(exc.status, code, message, **passed)
    except Unavailable as exc:
        # A route let `submit`'s refusal through: nothing was recorded, so the caller may retry.
        log.warning("%s %s not recorded: %s", request.method, request.path, scrub(str(exc)))
        return json_error(503, "unavailable", "not recorded; try again")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal", "internal error; the request was not applied")


async def healthz(request: web.Request) -> web.Response:
    hashcart = request.app[HASHCART_KEY]
    try:
        async with hashcart.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        down = {"status": "unavailable", "reason": type(exc).__name__}
        return web.json_response(down, status=503)
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    hashcart = request.app[HASHCART_KEY]
    try:
        pending = sa.select(sa.func.count(), sa.func.min(outbox.c.created_at))
        async with hashcart.engine.connect() as conn:
            row = (await conn.execute(pending.where(outbox.c.status == "pending"))).one()
        hashcart.metrics.outbox_depth.set(row[0])
        hashcart.metrics.outbox_oldest_age.set(time.time() - row[1] if row[1] else 0)
    except Exception as exc:
        log.warning("metrics: outbox gauges not updated: %s", exc)
    body = generate_latest(hashcart.metrics.registry)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


async def _cache_static(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith(STATIC_PREFIX) and response.status == 200:
        response.headers["Cache-Control"] = STATIC_CACHE


def build_web_app(hashcart: Hashcart) -> web.Application:
    from hashcart.web import admin, auth, cart_page, linking, session

    try:
        proxies = TrustedProxies(hashcart.settings.forwarded_allow_ips)
    except ValueError as exc:
        raise ConfigError(f"HASHCART_FORWARDED_ALLOW_IPS: {exc}") from None
    app = web.Application(
        middlewares=[errors_as_json, proxies.middleware],
        client_max_size=hashcart.settings.max_body_bytes,
    )
    app[HASHCART_KEY] = hashcart
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    admin.add_routes(app)
    session.install(app, hashcart.settings.public_url)
    app.router.add_static(STATIC_PREFIX, STATIC)
    app.on_response_prepare.append(_cache_static)
    linking.add_routes(app)
    auth.add_routes(app)
    cart_page.add_routes(app)
    hashcart.add_web_routes(app)
    return app


#: A `for=` that is no address (`unknown`, an obfuscated `_name`) is kept, up to this length.
MAX_OPAQUE = 64


class TrustedProxies(XForwardedBase):
    """Sets `request.remote` to the client's address when a configured proxy forwarded it."""

    def __init__(self, allowed: str) -> None:
        """`allowed`: the proxies, `*` for any; raises ValueError naming a bad entry."""
        entries = [part.strip() for part in allowed.split(",") if part.strip()]
        self._allowed: list[IPAddress | IPNetwork] | None = (
            None if "*" in entries else parse_trusted_element(entries)
        )

    def believed(self, address: str | None) -> bool:
        if self._allowed is None:
            return True
        try:
            check_ip(self._allowed, ip_address(address or ""))
        except (ValueError, UntrustedIP):
            return False
        return True

    def _hops(self, request: web.Request) -> list[str]:
        """The addresses the proxies reported, farthest first."""
        if hdrs.X_FORWARDED_FOR in request.headers:
            return [str(hop) for hop in self.get_forwarded_for(request.headers)]
        return [_without_port(hop["for"]) for hop in request.forwarded if hop.get("for")]

    def client_of(self, request: web.Request) -> str | None:
        if not self.believed(request.remote):
            return None
        client = None
        for hop in reversed(self._hops(request)):
            client = hop
            if not self.believed(hop):
                break
        return client[:MAX_OPAQUE] if client else None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            client = self.client_of(request)
        except web.HTTPBadRequest:
            return json_error(400, "bad_request", "X-Forwarded-For is not a list of addresses")
        except RemoteError:  # the header came more than once
            return json_error(400, "bad_request", "X-Forwarded-For came more than once")
        if client is not None:
            request = request.clone(remote=client)
        return await handler(request)


def _without_port(value: str) -> str:
    """`[2001:db8::1]:4711` → `2001:db8::1`, `192.0.2.43:47011` → `192.0.2.43`."""
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        return value.partition(":")[0]
    return value


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
    connection is accepted, the requests in flight finish, and the Hashcart stops: the one
    start-up and shutdown order for `serve`, the playground and the test kit alike.

    The Hashcart runs inside the web application's `cleanup_ctx`: it starts before the socket
    listens and stops after the server has finished the requests in flight. A request waiting on
    the applier therefore gets its answer before the applier stops, so a 200 means recorded.
    """
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


def hashcart_of(request: web.Request) -> Hashcart:
    return request.app[HASHCART_KEY]
