"""The playground's own shop: a Slack `/cart add` of one of its product pages goes through the
real shop plugin (page read over HTTP, no network beyond loopback), and `/cart list` answers
with a button that carries the cart to the shop's own cart."""

from __future__ import annotations

import hashcart_shop
import hashcart_slack
from hashcart.testing import eventually, running_hashcart
from hashcart.web.playground import SLACK_CHANNEL, SLACK_DEMO, Playground
from hashcart_slack.testing import ResponsePost


async def test_a_playground_shop_link_is_added_and_handed_off_from_slack() -> None:
    async with Playground() as playground:
        tote = next(p for p in playground.products if p.title.startswith("Canvas tote"))
        assert tote.page_url is not None and tote.page_url.startswith(playground.shop.url)
        plugins = [hashcart_slack, hashcart_shop, playground]
        async with running_hashcart(plugins=plugins, env=playground.env()) as hc:
            account = await playground.demo_account()

            async def slack(text: str) -> list[ResponsePost]:
                delivery = await playground.slack.slash_command(
                    f"{hc.url}/slack/events", text, user_id=SLACK_DEMO, channel_id=SLACK_CHANNEL
                )
                assert delivery.status == 200
                return await eventually(
                    lambda: playground.slack.responses_to(delivery.response_url)
                )

            (added,) = await slack(f"add <{tote.page_url}|canvas tote>")
            assert "Canvas tote" in added.text
            cart = await hc.hashcart.accounts.cart(account)
            (line,) = cart["items"]
            assert (line["price_cents"], line["currency"]) == (1900, "EUR")
            assert line["image_url"] == f"{playground.shop.url}/img/canvas-tote.svg"
            assert playground.shop.seen.count("/products/canvas-tote") == 1

            (fire_tv,) = await slack("add <https://www.amazon.com/dp/B07XJ8C8F5|fire tv>")
            assert "Fire TV Stick 4K" in fire_tv.text

            (listed,) = await slack("list")
            blocks = listed.body["blocks"]
            buttons = [
                element
                for block in blocks
                if block["type"] == "actions"
                for element in block["elements"]
                if element["action_id"].startswith("handoff")
            ]
            assert [b["url"] for b in buttons] == [
                f"{playground.shop.url}/cart/40001:1",
                "https://www.amazon.com/gp/aws/cart/add.html?ASIN.1=B07XJ8C8F5&Quantity.1=1",
            ]
            assert [b["text"]["text"] for b in buttons] == [
                "Continue at 127.0.0.1",
                "Continue at amazon.com",
            ]
            rendered = " ".join(b["text"]["text"] for b in blocks if b["type"] == "section")
            assert "Canvas tote _(127.0.0.1)_" in rendered
            assert "Fire TV Stick 4K _(amazon.com)_" in rendered
            assert "€19.00 + $" in rendered  # two currencies, two totals

            sold_out = next(p for p in playground.products if p.title.startswith("Brass lamp"))
            (answer,) = await slack(f"add <{sold_out.page_url}|lamp>")
            assert "unavailable" in answer.text
            assert len((await hc.hashcart.accounts.cart(account))["items"]) == 2
