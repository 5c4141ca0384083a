"""The playground's Slack pane: the pane shows `/cart` before its field, and the README tells
people to type `/cart add <link>`; both that and the bare `add <link>` add the product."""

from __future__ import annotations

import re

import aiohttp
import pytest

import hashcart_slack
from hashcart.testing import eventually, running_hashcart
from hashcart.web.playground import Playground

FIRE_TV = "https://www.amazon.com/dp/B07XJ8C8F5"


@pytest.mark.parametrize(
    "typed", [f"/cart add {FIRE_TV}", f"add {FIRE_TV}", f"/CART add {FIRE_TV}"]
)
async def test_slack_pane_takes_the_command_with_or_without_slash_cart(typed: str) -> None:
    async with Playground() as playground:
        env = {**playground.env(), "HASHCART_SESSION_SECRET": "playground-test-secret-0123456789"}
        plugins = [hashcart_slack, playground]
        async with (
            running_hashcart(plugins=plugins, env=env) as hc,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
        ):
            async with browser.get(f"{hc.url}/playground") as page:
                found = re.search(r'name="csrf" value="([^"]+)"', await page.text())
            assert found is not None
            form = {"csrf": found.group(1), "text": typed}
            async with browser.post(f"{hc.url}/playground/slack/command", data=form) as sent:
                assert sent.status == 200  # the redirect back to the page, followed

            (answer,) = await eventually(lambda: playground.slack.responses)
            assert "Fire TV Stick 4K" in answer.text, answer.text
            cart = await hc.hashcart.accounts.cart(await playground.demo_account())
            assert [item["product_id"] for item in cart["items"]] == ["amazon:B07XJ8C8F5"]
