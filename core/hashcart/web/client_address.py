"""The client's address, as told by the reverse proxies we were configured to believe.

Behind a proxy every request comes from the proxy's address; per-address limits keyed on it
would treat all visitors as one. The proxy names the client in `X-Forwarded-For` (or
`Forwarded`), but so can anybody who reaches hashcart directly, so those headers are only read
when the connection comes from an address in `HASHCART_FORWARDED_ALLOW_IPS` (the convention of
uvicorn and gunicorn). The list a header carries is read from the right, the hops nearest to us
first; the first address that is not one of our proxies is the client. Parsing and matching
come from aiohttp-remotes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from ipaddress import ip_address

from aiohttp import hdrs, web
from aiohttp_remotes.exceptions import IPAddress, IPNetwork, RemoteError, UntrustedIP
from aiohttp_remotes.utils import check_ip, parse_trusted_element
from aiohttp_remotes.x_forwarded import XForwardedBase

from hashcart.web.server import json_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: A `for=` that is no address (`unknown`, an obfuscated `_name`) is kept, up to this length.
MAX_OPAQUE = 64


def parse_allowed(value: str) -> list[IPAddress | IPNetwork] | None:
    """The configured proxies; None means any (`*`). Raises ValueError naming a bad entry."""
    entries = [part.strip() for part in value.split(",") if part.strip()]
    if "*" in entries:
        return None
    return parse_trusted_element(entries)


class TrustedProxies(XForwardedBase):
    """Sets `request.remote` to the client's address when a configured proxy forwarded it."""

    def __init__(self, allowed: str) -> None:
        self._allowed = parse_allowed(allowed)

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
        hops = []
        for element in request.forwarded:
            given = element.get("for")
            if given:
                hops.append(_without_port(given))
        return hops

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
