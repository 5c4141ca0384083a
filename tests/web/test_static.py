"""The pages' stylesheet and script: served by the router with a short public cache, and
nothing outside their folder."""

from __future__ import annotations

import aiohttp

from hashcart.testing import SESSION_SECRET, running_hashcart


async def test_static_files_are_served_with_a_short_public_cache() -> None:
    env = {"HASHCART_SESSION_SECRET": SESSION_SECRET}
    async with running_hashcart(env=env) as hc, aiohttp.ClientSession() as http:
        async with http.get(f"{hc.url}/static/hashcart.css") as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "public, max-age=300"
            assert response.content_type == "text/css"
            assert "{" in await response.text()
        async with http.get(f"{hc.url}/static/live.js") as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "public, max-age=300"


async def test_nothing_outside_the_static_folder_is_served() -> None:
    env = {"HASHCART_SESSION_SECRET": SESSION_SECRET}
    async with running_hashcart(env=env) as hc, aiohttp.ClientSession() as http:
        for path in ("/static/missing.css", "/static/../pages.py", "/static/%2e%2e/pages.py"):
            async with http.get(f"{hc.url}{path}") as response:
                assert response.status == 404, path
                assert "public" not in response.headers.get("Cache-Control", "")
