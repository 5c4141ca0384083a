"""Expand Amazon short links (amzn.to, a.co, …) to the storefront URL they redirect to.

A short link carries no ASIN, so the only way to learn the product is to ask the shortener. That
is an outbound request triggered by a stranger's message, so it is fenced in: only the known
shortener hosts are contacted, redirects are followed by hand (never to a third-party host), at
most a few hops within a short total deadline, and the answers are cached so a link that goes
viral costs one lookup. Failures are cached too, for less time: otherwise a stranger repeating a
dead or slow short link would make hashcart ask the shortener on every message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiohttp

from hashcart import __version__, is_safe_url
from hashcart_amazon.urls import marketplace_of

log = logging.getLogger(__name__)

#: Hosts whose links are only redirects to a storefront.
SHORT_LINK_HOSTS = frozenset({"amzn.to", "amzn.eu", "amzn.asia", "a.co", "amzn.com"})
MAX_HOPS = 5
TIMEOUT_SECONDS = 3.0
#: How long a failed expansion is remembered: a link that is not a product link for long, a
#: shortener that did not answer (perhaps a passing problem) briefly.
FAILURE_TTL = 600.0
TRANSIENT_FAILURE_TTL = 60.0
#: What the cache holds for a failed expansion.
FAILED = ""
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = f"hashcart/{__version__} (short-link expansion)"

#: Maps a shortener host to the origin (`scheme://host[:port]`) actually contacted, so tests
#: can stand a local server in for amzn.to while the URLs in the chain stay the real ones.
HostResolver = Callable[[str], str]


class TTLCache:
    """A small least-recently-used map whose entries expire; enough for one process."""

    def __init__(
        self,
        maxsize: int = 1024,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: str, ttl: float | None = None) -> None:
        self._entries[key] = (self._clock() + (self.ttl if ttl is None else ttl), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)


#: The process-wide cache the hook uses: expansions for `ttl`, failures (`FAILED`) for less.
CACHE = TTLCache()


def is_short_link(url: str) -> bool:
    return is_safe_url(url) and (urlsplit(url).hostname or "") in SHORT_LINK_HOSTS


async def expand_short_link(
    url: str,
    session: aiohttp.ClientSession | None = None,
    *,
    resolve_host: HostResolver | None = None,
    cache: TTLCache | None = None,
    total_seconds: float = TIMEOUT_SECONDS,
) -> str | None:
    """The first Amazon storefront URL the short link redirects to, or None.

    None for a URL that is not a short link, a chain that leaves Amazon, loops, runs past
    `MAX_HOPS`, points at a non-http(s) target, or does not finish within `total_seconds`.
    Without a `session` one is opened for this call only.
    """
    if not is_short_link(url):
        return None
    if cache is not None and (hit := cache.get(url)) is not None:
        return hit or None  # FAILED: asked a moment ago, in vain
    try:
        async with asyncio.timeout(total_seconds):
            if session is None:
                async with aiohttp.ClientSession(headers={"User-Agent": _USER_AGENT}) as own:
                    final = await _follow(url, own, resolve_host, total_seconds)
            else:
                final = await _follow(url, session, resolve_host, total_seconds)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.debug("could not expand short link %s: %r", url, exc)
        if cache is not None:
            cache.put(url, FAILED, TRANSIENT_FAILURE_TTL)
        return None
    if cache is not None:
        cache.put(url, final or FAILED, None if final else FAILURE_TTL)
    return final


async def _follow(
    url: str,
    session: aiohttp.ClientSession,
    resolve_host: HostResolver | None,
    total_seconds: float,
) -> str | None:
    request_timeout = aiohttp.ClientTimeout(total=total_seconds)
    seen = {url}
    current = url
    for _ in range(MAX_HOPS):
        location = await _location(session, _contact(current, resolve_host), request_timeout)
        if location is None:
            log.debug("short link %s answered without a redirect", current)
            return None
        target = urljoin(current, location)
        if not is_safe_url(target):
            log.debug("short link %s redirects to an unsafe target %r", current, location)
            return None
        host = urlsplit(target).hostname or ""
        if marketplace_of(host) is not None:
            return target
        if host not in SHORT_LINK_HOSTS or target in seen:
            log.debug("short link %s leaves Amazon or loops at %s", url, target)
            return None
        seen.add(target)
        current = target
    log.debug("short link %s needs more than %d hops", url, MAX_HOPS)
    return None


async def _location(
    session: aiohttp.ClientSession, url: str, client_timeout: aiohttp.ClientTimeout
) -> str | None:
    """The Location of a redirect answer; GET when the shortener does not redirect HEAD."""
    for method in ("HEAD", "GET"):
        async with session.request(
            method, url, allow_redirects=False, timeout=client_timeout
        ) as resp:
            location = resp.headers.get("Location")
            if resp.status in _REDIRECTS and location:
                return location
    return None


def _contact(url: str, resolve_host: HostResolver | None) -> str:
    """The URL actually requested for a hop of the chain."""
    if resolve_host is None:
        return url
    parts = urlsplit(url)
    origin = urlsplit(resolve_host(parts.hostname or ""))
    return urlunsplit((origin.scheme, origin.netloc, parts.path, parts.query, ""))
