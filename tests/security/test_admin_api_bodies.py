"""Admin API bodies the JSON parser chokes on are the caller's fault: 400, never 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from hashcart.testing import RunningHashcart, running_hashcart
from tests.security.fuzzing import ADMIN_TOKEN

#: Small enough for any body limit, deep enough for Python's JSON parser to give up.
NESTED_TOO_DEEP = b"[" * 5000 + b"]" * 5000


@pytest.fixture
async def hc(database_url: str) -> AsyncIterator[RunningHashcart]:
    env = {"HASHCART_ADMIN_TOKEN": ADMIN_TOKEN}
    async with running_hashcart(database_url=database_url, env=env, with_amazon=False) as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/accounts"),
        ("PUT", "/api/v1/products/shop:SKU1"),
        ("POST", "/api/v1/accounts/some-id/identities"),
    ],
)
async def test_json_nested_too_deep_for_the_parser_is_400_not_500(
    hc: RunningHashcart, method: str, path: str
) -> None:
    token = hc.hashcart.settings.admin_token
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, hc.url + path, data=NESTED_TOO_DEEP, headers=headers) as response,
    ):
        assert response.status == 400, await response.text()
        assert (await response.json())["error"]["code"] == "malformed_json"
    assert await hc.hashcart.accounts.find(name="x") == []
