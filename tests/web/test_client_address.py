"""Whose `X-Forwarded-For` / `Forwarded` is believed for the client's address."""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from hashcart.errors import ConfigError
from hashcart.testing import running_hashcart
from hashcart.web.server import TrustedProxies


def _request(peer: str, **headers: str) -> object:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 40000) if name == "peername" else default
    )
    return make_mocked_request("GET", "/", headers=headers, transport=transport)


@pytest.mark.parametrize(
    ("allowed", "peer", "headers", "client"),
    [
        # A proxy we believe: the rightmost address that is not one of ours.
        ("127.0.0.1", "127.0.0.1", {"X-Forwarded-For": "203.0.113.5"}, "203.0.113.5"),
        ("127.0.0.1", "127.0.0.1", {"X-Forwarded-For": "6.6.6.6, 203.0.113.5"}, "203.0.113.5"),
        (
            "127.0.0.1, 10.0.0.0/8",
            "127.0.0.1",
            {"X-Forwarded-For": "6.6.6.6, 203.0.113.5, 10.1.2.3"},
            "203.0.113.5",
        ),
        ("127.0.0.1", "127.0.0.1", {"Forwarded": 'for="[2001:db8::1]:4711"'}, "2001:db8::1"),
        ("127.0.0.1", "127.0.0.1", {"Forwarded": "for=192.0.2.43:47011"}, "192.0.2.43"),
        ("127.0.0.1", "127.0.0.1", {"Forwarded": "for=unknown"}, "unknown"),
        # Everything ours: the farthest hop.
        ("*", "10.0.0.2", {"X-Forwarded-For": "10.0.0.9"}, "10.0.0.9"),
        # A stranger's headers are not believed.
        ("127.0.0.1", "192.0.2.77", {"X-Forwarded-For": "203.0.113.5"}, None),
        ("10.0.0.1", "127.0.0.1", {"Forwarded": "for=203.0.113.5"}, None),
        # No header: the connection's own address stands.
        ("127.0.0.1", "127.0.0.1", {}, None),
    ],
)
def test_the_client_is_the_first_hop_that_is_not_a_trusted_proxy(
    allowed: str, peer: str, headers: dict[str, str], client: str | None
) -> None:
    assert TrustedProxies(allowed).client_of(_request(peer, **headers)) == client  # type: ignore[arg-type]


async def test_a_bad_proxy_list_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="HASHCART_FORWARDED_ALLOW_IPS"):
        async with running_hashcart(env={"HASHCART_FORWARDED_ALLOW_IPS": "nginx"}):
            pass


async def test_a_malformed_forwarded_for_from_the_proxy_is_a_json_400() -> None:
    import aiohttp

    async with (
        running_hashcart(with_amazon=False) as hc,
        aiohttp.ClientSession() as client,
        client.get(f"{hc.url}/signin", headers={"X-Forwarded-For": "not-an-address"}) as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "bad_request"
