"""Fetching a listed shop's page without letting a link reach anything else.

Every rule holds by construction, not by a check before the request: the connection is made to
the very address that was checked (the resolver below answers aiohttp with it, so a second DNS
answer cannot differ), redirects are followed by hand and each hop must be a listed shop, the body
is read in chunks and dropped past `MAX_BYTES`, and one page, redirects included, gets `TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from hashcart import SourceUnavailable, retry_after
from hashcart_shop.settings import ShopHost, ShopList

MAX_BYTES = 2 * 1024 * 1024
TIMEOUT = 5.0
MAX_REDIRECTS = 5
USER_AGENT = "hashcart-shop/0.1 (+https://github.com/hashcart; product pages only)"


class Refused(Exception):
    """The link may not be fetched (not listed, a private address, too large): the input's fault,
    so the product is unknown; never an outage."""


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    body: bytes


def address_allowed(address: str, shop: ShopHost) -> bool:
    """A public address always; a private, loopback or link-local one only for a shop listed
    with its port (the operator named that machine)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global or (shop.port_listed and not ip.is_multicast and not ip.is_unspecified)


class CheckedResolver(AbstractResolver):
    """Resolves only listed shops, and answers only addresses that their listing allows."""

    def __init__(self, shops: ShopList) -> None:
        self._shops = shops

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        entries = self._shops.for_address(host, port)
        if not entries:
            raise Refused(f"{host}:{port} is not a listed shop")
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, family=family
        )
        answers: list[ResolveResult] = []
        for found_family, _, proto, _, sockaddr in infos:
            address = str(sockaddr[0])
            if not any(address_allowed(address, entry) for entry in entries):
                # One private answer among public ones is the rebinding trick: refuse them all.
                raise Refused(f"{host} resolves to {address}, which is not a public address")
            answers.append(
                {
                    "hostname": host,
                    "host": address,
                    "port": port,
                    "family": found_family,
                    "proto": proto,
                    "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                }
            )
        if not answers:
            raise OSError(f"{host} has no address")
        return answers

    async def close(self) -> None:
        return None


def _refusal(exc: BaseException) -> Refused | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Refused):
            return seen
        os_error = getattr(seen, "os_error", None)
        if isinstance(os_error, Refused):
            return os_error
        seen = seen.__cause__ or seen.__context__
    return None


class GuardedClient:
    """GETs pages of listed shops only; one client per fetch, so nothing outlives it."""

    def __init__(self, shops: ShopList) -> None:
        self._shops = shops

    async def get(self, url: str, accept: str) -> Fetched:
        """The final page after redirects within listed shops.

        Raises `Refused` for what the link's fault is (including 404) and `SourceUnavailable`
        for a shop that is down, slow or throttling.
        """
        connector = aiohttp.TCPConnector(
            resolver=CheckedResolver(self._shops), use_dns_cache=False, limit_per_host=4
        )
        try:
            async with (
                asyncio.timeout(TIMEOUT),
                aiohttp.ClientSession(
                    connector=connector,
                    timeout=aiohttp.ClientTimeout(total=TIMEOUT, connect=3),
                    headers={"User-Agent": USER_AGENT, "Accept": accept},
                ) as session,
            ):
                return await self._follow(session, url)
        except TimeoutError as exc:
            raise SourceUnavailable(f"the shop took more than {TIMEOUT:.0f} s") from exc
        except aiohttp.ClientError as exc:
            refused = _refusal(exc)
            if refused is not None:
                raise refused from exc
            raise SourceUnavailable(f"the shop could not be reached: {type(exc).__name__}") from exc

    async def _follow(self, session: aiohttp.ClientSession, url: str) -> Fetched:
        for _ in range(MAX_REDIRECTS + 1):
            shop = self._shops.for_url(url)
            if shop is None:
                raise Refused(f"{urlsplit(url).netloc or url[:100]} is not a listed shop")
            host = urlsplit(url).hostname or ""
            try:
                literal = ipaddress.ip_address(host.strip("[]"))
            except ValueError:
                literal = None
            if literal is not None and not address_allowed(str(literal), shop):
                raise Refused(f"{host} is not a public address")
            async with session.get(url, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    if not location:
                        raise Refused("a redirect without a Location")
                    url = urljoin(url, location)
                    continue
                return await self._read(url, response)
        raise Refused(f"more than {MAX_REDIRECTS} redirects")

    async def _read(self, url: str, response: aiohttp.ClientResponse) -> Fetched:
        if response.status == 429 or response.status >= 500:
            raise SourceUnavailable(
                f"the shop answered {response.status}", retry_after=retry_after(response.headers)
            )
        if response.status != 200:
            raise Refused(f"the shop answered {response.status}")
        declared = response.content_length
        if declared is not None and declared > MAX_BYTES:
            raise Refused(f"the page is larger than {MAX_BYTES} bytes")
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body.extend(chunk)
            if len(body) > MAX_BYTES:
                raise Refused(f"the page is larger than {MAX_BYTES} bytes")
        return Fetched(url, bytes(body))
