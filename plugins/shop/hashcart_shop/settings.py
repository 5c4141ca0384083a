"""Which shops may be read: `HASHCART_SHOP_HOSTS`, parsed into exact (scheme, host, port) entries.

Nothing outside this list is ever fetched. An entry names a host (`shop.example`, https on 443),
a host and port (`shop.example:8443`, https) or an origin (`http://shop.local:8080`, the only way
to allow plain http). Listing the port is what lets a host resolve to a private or loopback address:
an operator who writes `127.0.0.1:8080` means that machine, while a bare public name that suddenly
resolves to 10.0.0.1 is a rebinding attack on the internal network.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from hashcart import PluginSettings

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class ShopHost:
    """One listed shop; `store` is the store part of its product ids (a host, never a colon)."""

    scheme: str
    host: str
    port: int
    port_listed: bool

    @property
    def store(self) -> str:
        # Product ids are `<store>:<sku>`, so a port cannot follow a colon: `host_8080` instead
        # (an underscore never appears in a host name).
        return self.host if not self.port_listed else f"{self.host}_{self.port}"

    @property
    def origin(self) -> str:
        default = DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{self.host}" + ("" if default else f":{self.port}")


def parse_host_entry(entry: str) -> ShopHost:
    """One comma-separated item of `HASHCART_SHOP_HOSTS`; raises ValueError naming it."""
    text = entry.strip().lower()
    scheme = "https"
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme not in DEFAULT_PORTS:
            raise ValueError(f"shop host {entry!r}: only http:// or https:// origins")
        text = rest.rstrip("/")
    try:
        parts = urlsplit(f"//{text}")
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"shop host {entry!r}: {exc}") from exc
    host = parts.hostname or ""
    if not host or parts.path or parts.username or parts.query or not host.isascii():
        raise ValueError(f"shop host {entry!r} is not a host, host:port or http(s)://host:port")
    return ShopHost(scheme, host, port or DEFAULT_PORTS[scheme], port is not None)


class ShopSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="HASHCART_SHOP_", extra="ignore")

    hosts: str = Field(
        "",
        description="comma-separated shops whose product pages may be read: host, host:port, "
        "or http://host:port to allow plain http",
    )

    @field_validator("hosts")
    @classmethod
    def _valid_hosts(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                parse_host_entry(item)
        return value

    def shop_hosts(self) -> tuple[ShopHost, ...]:
        return tuple(parse_host_entry(item) for item in self.hosts.split(",") if item.strip())


class ShopList:
    """The listed shops, looked up by the URL parts a request or a redirect names."""

    def __init__(self, hosts: tuple[ShopHost, ...]) -> None:
        self.hosts = hosts
        self._by_origin = {(h.scheme, h.host, h.port): h for h in hosts}
        self._by_store = {h.store: h for h in hosts}

    def for_url(self, url: str) -> ShopHost | None:
        """The entry that allows fetching `url` exactly (scheme, host and port), or None."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
            return None
        return self._by_origin.get((scheme, parts.hostname, port or DEFAULT_PORTS[scheme]))

    def for_address(self, host: str, port: int) -> list[ShopHost]:
        """Entries for a host and port a connection is about to be made to."""
        return [h for h in self.hosts if h.host == host.lower() and h.port == port]

    def for_store(self, store: str) -> ShopHost | None:
        return self._by_store.get(store)
