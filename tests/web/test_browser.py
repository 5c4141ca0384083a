"""The pages in a real browser: link an X identity from the bot's reply, use the cart page, and
play the playground round trip on all three platforms. Chromium runs headless via Playwright."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import hashcart_discord
import hashcart_slack
import hashcart_twitter
from hashcart.testing import SESSION_SECRET, eventually, running_hashcart
from hashcart.web.playground import Playground
from hashcart_twitter.testing import XStandin, tweet, user

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"
KINDLE = "https://www.amazon.com/dp/B08N5WRWNW"
ENV = {"HASHCART_SESSION_SECRET": SESSION_SECRET}
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "playground.png"


async def test_link_from_an_x_reply_then_use_the_cart_page(browser: Any) -> None:
    from playwright.async_api import expect  # the `browser` fixture skips when it is missing

    async with (
        XStandin() as x,
        running_hashcart(plugins=[hashcart_twitter], env={**x.env(), **ENV}) as hc,
    ):
        await hc.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        await hc.add_product("amazon:B08N5WRWNW", title="Kindle", price_cents=9999)
        bob, alice = user("bob"), user("alice")
        webhook = f"{hc.url}/twitter/webhook"

        async def reply_to_deal(url: str) -> dict[str, Any]:
            deal = x.add_tweet(tweet("Great deal", user=bob, urls=[url]))
            reply = tweet("#amazoncart", user=alice, in_reply_to=deal)
            assert (await x.deliver(webhook, [reply])).status == 200
            return reply

        # An unlinked public reply: the bot answers with the link-by-proof page, the item waits.
        first = await reply_to_deal(ECHO)
        answer = (await eventually(lambda: x.replies_to(first)))[0]
        link = re.search(r"/link/[\w-]+", answer.text)
        assert link, answer.text

        # Following it means signing in with X (the stand-in knows who is signed in there).
        x.signin_as(alice)
        page = await browser.new_page()
        await page.goto(hc.url + link.group(0))
        await expect(page.get_by_role("heading", level=1)).to_have_text("Link @alice on X")
        await page.get_by_label("Account name").last.fill("alice")
        await page.get_by_label("Password").last.fill("a long password")
        await page.get_by_role("button", name="Create account").click()
        await page.get_by_role("button", name="Link @alice").click()
        await expect(page).to_have_url(re.compile(r"/cart\?done=linked$"))
        await expect(page.locator("table.cart")).to_contain_text("Echo Dot")
        await expect(page.locator("table.cart")).to_contain_text("via X")
        # The pending add was applied and the bot says so on X.
        await eventually(lambda: len(x.replies_to(first)) == 2)

        # Change a quantity.
        await page.get_by_label("Quantity of Echo Dot").fill("3")
        await page.get_by_role("button", name="Update").click()
        await expect(page.locator("#cart-total")).to_have_text("$149.97")

        # An item added on X while the page is open appears without a reload.
        await reply_to_deal(KINDLE)
        await expect(page.locator("table.cart")).to_contain_text("Kindle", timeout=10_000)
        await expect(page.locator("#cart-total")).to_have_text("$249.96")

        # The privacy switch: the next answer comes by DM, not as a public reply.
        await page.get_by_role("button", name="Answer me by DM only").click()
        await expect(page.locator("#privacy-state")).to_contain_text("by direct message only")
        private = await reply_to_deal(KINDLE)
        await eventually(lambda: x.dms_to(alice))
        assert x.replies_to(private) == []

        # Unlink: the identity is gone and the next reply asks to link again.
        await page.get_by_role("button", name="Unlink @alice on X").click()
        await expect(page.get_by_text("No chat account is linked yet")).to_be_visible()
        again = await reply_to_deal(ECHO)
        relink = (await eventually(lambda: x.replies_to(again)))[0]
        assert "/link/" in relink.text


async def test_playground_round_trip_on_each_platform(browser: Any, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with Playground() as playground:
        plugins = [hashcart_twitter, hashcart_slack, hashcart_discord, playground]
        async with running_hashcart(plugins=plugins, env={**playground.env(), **ENV}) as hc:
            await playground.discord.wait_connected()
            page = await browser.new_page(viewport={"width": 1500, "height": 1000})
            await page.goto(hc.url + "/playground")
            cart = page.locator("#cart")

            # X: bob posts a deal, demo replies #amazoncart, the bot answers and the cart fills.
            x_pane = page.locator("#x")
            await x_pane.get_by_label("@bob posts a deal").select_option(
                label="Echo Dot (4th Gen) smart speaker"
            )
            await x_pane.get_by_role("button", name="Post").click()
            await x_pane.get_by_role("button", name="Reply #amazoncart").first.click()
            await expect(cart).to_contain_text("Echo Dot (4th Gen) smart speaker", timeout=10_000)
            await expect(x_pane).to_contain_text("Added Echo Dot", timeout=10_000)

            # Slack: /cart add <link>; the ephemeral answer shows in the channel.
            slack_pane = page.locator("#slack")
            await slack_pane.get_by_label("/cart").fill("add https://www.amazon.com/dp/B07XJ8C8F5")
            await slack_pane.get_by_role("button", name="Send").click()
            await expect(cart).to_contain_text("Fire TV Stick 4K", timeout=10_000)
            await expect(slack_pane).to_contain_text("only visible to you", timeout=10_000)

            # Discord: bob posts a deal, demo reacts 🛒, the bot answers by DM.
            discord_pane = page.locator("#discord")
            await discord_pane.get_by_label("bob posts a deal").select_option(
                label="Kindle Paperwhite cover"
            )
            await discord_pane.get_by_role("button", name="Post").click()
            await discord_pane.get_by_role("button", name=re.compile("React 🛒")).click()
            await expect(cart).to_contain_text("Kindle Paperwhite cover", timeout=10_000)
            await expect(discord_pane).to_contain_text("DM to you", timeout=10_000)
            await expect(page.locator("#playground-total")).to_have_text("$119.97")

            shot = tmp_path / "playground.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            if os.environ.get("HASHCART_UPDATE_SCREENSHOT") == "1":
                SCREENSHOT.write_bytes(shot.read_bytes())

            # The page's own way to the cart page signs in as the demo account.
            await cart.get_by_role("button", name="Open demo's cart page").click()
            await expect(page.locator("table.cart")).to_contain_text("Fire TV Stick 4K")
