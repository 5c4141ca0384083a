"""`hashcart playground`: the server plus local X, Slack and Discord, and a page to drive them.

The stand-ins the platform plugins offer (`hashcart_standins`) run on loopback ports; the real
platform plugins are pointed at them through their ordinary settings (`Playground.env()`),
before the Hashcart is built, so everything between a click and the bot's answer is the
production path: a signed X webhook, a signed Slack slash command through Bolt, a Discord
gateway reaction through discord.py, the applier, the outbox and each platform's API client.
Nothing leaves the machine and no credentials are needed.

The page acts as one demo person, linked on all three stand-ins, while "bob" posts the product
links the demo person reacts to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hashcart import hookimpl
from hashcart.catalog import CatalogEntry
from hashcart.errors import Conflict
from hashcart.i18n import money
from hashcart.testing.standins import load_standins
from hashcart.web.cart_page import SHUTDOWN_KEY
from hashcart.web.pages import form_handler, page, platform_name, see_other
from hashcart.web.session import session_of, with_session

if TYPE_CHECKING:
    from hashcart.app import Hashcart

DEMO_ACCOUNT = "demo"
SLACK_DEMO = "U0DEMO"
SLACK_CHANNEL = "C0DEALS"
SLACK_COMMAND = "/cart"
CART_EMOJI = "🛒"
POLL_SECONDS = 0.5
STREAM_SECONDS = 300.0


@dataclass(frozen=True)
class SampleProduct:
    product_id: str
    title: str
    price_cents: int
    currency: str
    #: A product of the playground's own shop: its page, read live (not in the catalog).
    page_url: str | None = None

    @property
    def url(self) -> str:
        if self.page_url is not None:
            return self.page_url
        store, _, sku = self.product_id.partition(":")
        return f"https://www.amazon.com/dp/{sku}" if store == "amazon" else sku


@dataclass(frozen=True)
class SlackLine:
    """One line of the Slack pane: what the demo person typed, and when."""

    text: str
    at: float


#: The playground's own shop: product pages with JSON-LD, so a non-Amazon link can be tried
#: without any network. (path, title, price in cents, currency, in stock, Shopify variant id)
CORNER_SHOP = [
    ("/products/enamel-mug", "Enamel mug", 1450, "EUR", True, None),
    ("/products/wool-socks", "Wool socks", 1200, "EUR", True, None),
    ("/products/canvas-tote", "Canvas tote", 1900, "EUR", True, 40001),
    ("/products/brass-lamp", "Brass lamp", 8900, "EUR", False, None),
]


def corner_shop(shop: Any) -> Any:
    """Stocks the shop plugin's stand-in (a `hashcart_shop.testing.ShopStandin`)."""
    for path, title, cents, currency, available, variant in CORNER_SHOP:
        image = f"/img/{path.rsplit('/', 1)[-1]}.svg"
        shop.add(
            path, title, cents, currency=currency, available=available, image=image,
            variant_id=variant,
        )  # fmt: skip
    return shop


def sample_products() -> list[SampleProduct]:
    raw = resources.files("hashcart.data").joinpath("sample_catalog.json").read_text("utf-8")
    return [
        SampleProduct(p["product_id"], p["title"], p["price_cents"], p.get("currency", "USD"))
        for p in json.loads(raw)
        if p.get("available", True)
    ]


class Playground:
    """The three stand-ins, the demo people, and the page's routes (as a hashcart plugin)."""

    def __init__(self) -> None:
        standins = load_standins(("twitter", "slack", "discord", "shop"))
        # Typed `Any`: each pane drives one platform's own stand-in (the core imports no plugin).
        self.x: Any = standins["twitter"]
        self.slack: Any = standins["slack"]
        self.discord: Any = standins["discord"]
        self.shop: Any = corner_shop(standins["shop"])
        self.x_demo = self.x.user("demo", name="Demo")
        self.x_bob = self.x.user("bob", name="Bob")
        self.slack.users[SLACK_DEMO] = {"name": "demo", "real_name": "Demo"}
        self.slack.users["U0BOB"] = {"name": "bob", "real_name": "Bob"}
        self.discord_demo = self.discord.add_user("demo")
        self.discord_bob = self.discord.add_user("bob")
        guild = self.discord.add_guild("hashcart playground")
        self.discord_channel = self.discord.add_channel(guild, "deals")
        self.slack_lines: list[SlackLine] = []
        self.products = sample_products()
        self.hashcart: Hashcart | None = None
        self._demo_id: str | None = None
        self._demo_lock = asyncio.Lock()

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        for standin in (self.x, self.slack, self.discord, self.shop):
            await standin.start()
        for item in self.shop.items.values():
            if item.image is not None:
                item.image = self.shop.url + item.image
            link = self.shop.url + item.path
            if item.variant_id is not None:
                link += f"?variant={item.variant_id}"
            sold_out = "" if item.available else ", sold out"
            self.products.append(
                SampleProduct(
                    f"corner-shop:{item.path}", f"{item.title} (Corner Shop{sold_out})",
                    item.price_cents, item.currency, page_url=link,
                )
            )  # fmt: skip

    async def stop(self) -> None:
        for standin in (self.shop, self.discord, self.slack, self.x):
            with contextlib.suppress(Exception):
                await standin.stop()

    async def __aenter__(self) -> Playground:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def env(self) -> dict[str, str]:
        """The settings that point the real platform plugins at the stand-ins."""
        standins = (self.x, self.slack, self.discord, self.shop)
        return {key: value for standin in standins for key, value in standin.plugin_env().items()}

    # -- the plugin side --------------------------------------------------------------------------

    @hookimpl
    def hashcart_web_routes(self, hashcart: Hashcart, app: web.Application) -> None:
        self.hashcart = hashcart
        app.router.add_get("/playground", with_session(self._page))
        app.router.add_get("/playground/events", self._events)
        app.router.add_post("/playground/x/tweet", form_handler(self._x_tweet))
        app.router.add_post("/playground/x/reply", form_handler(self._x_reply))
        app.router.add_post("/playground/slack/command", form_handler(self._slack_command))
        app.router.add_post("/playground/discord/message", form_handler(self._discord_message))
        app.router.add_post("/playground/discord/react", form_handler(self._discord_react))
        app.router.add_post("/playground/signin", form_handler(self._signin))

    def _app(self) -> Hashcart:
        assert self.hashcart is not None, "the playground's routes are not installed"
        return self.hashcart

    @property
    def base_url(self) -> str:
        """hashcart's own address, where the stand-ins deliver webhooks."""
        settings = self._app().settings
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        return f"http://{host}:{settings.port}"

    async def demo_account(self) -> str:
        """The demo account, linked on every stand-in (made on first use, kept in the database)."""
        async with self._demo_lock:
            if self._demo_id is not None:
                return self._demo_id
            hashcart = self._app()
            found = await hashcart.accounts.find(name=DEMO_ACCOUNT)
            account_id = str(
                found[0]["id"] if found else (await hashcart.accounts.create(DEMO_ACCOUNT))["id"]
            )
            for platform, user_id, name in (
                ("twitter", self.x_demo["id_str"], "demo"),
                ("slack", f"{self.slack.team_id}:{SLACK_DEMO}", "demo"),  # team + user
                ("discord", str(self.discord_demo.id), "demo"),
            ):
                with contextlib.suppress(Conflict):  # linked elsewhere on purpose: leave it
                    await hashcart.link_identity(account_id, platform, user_id, name)
            await hashcart.catalog.upsert(
                CatalogEntry(p.product_id, p.title, p.price_cents, p.currency, True)
                for p in self.products
                if p.page_url is None
            )
            self._demo_id = account_id
            return account_id

    # -- what the page shows ----------------------------------------------------------------------

    def _x_feed(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        bot_id = self.x.bot["id_str"]
        for stored in self.x.tweets.values():
            if stored["user"]["id_str"] == bot_id:  # the bot's posts come from `x.posted`
                continue
            entries.append(
                {
                    "id": stored["id_str"],
                    "who": "@" + stored["user"]["screen_name"],
                    "text": _tweet_text(stored),
                    "bot": False,
                    "replyable": stored["user"]["id_str"] != self.x_demo["id_str"],
                    "at": int(stored["timestamp_ms"]) / 1000,
                }
            )
        for posted in self.x.posted:
            entries.append(
                {"id": posted.id, "who": "@hashcart", "text": posted.text, "bot": True,
                 "replyable": False, "at": posted.at}
            )  # fmt: skip
        for dm in self.x.dms_to(self.x_demo):
            entries.append(
                {"id": "", "who": "@hashcart (DM to you)", "text": dm.text, "bot": True,
                 "replyable": False, "at": dm.at}
            )  # fmt: skip
        return sorted(entries, key=lambda e: e["at"])

    def _slack_feed(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = [
            {"who": "demo", "text": f"{SLACK_COMMAND} {line.text}", "bot": False, "at": line.at}
            for line in self.slack_lines
        ]
        for response in self.slack.responses:
            entries.append(
                {"who": "hashcart (only visible to you)", "text": response.text, "bot": True,
                 "at": response.at}
            )  # fmt: skip
        return sorted(entries, key=lambda e: e["at"])

    def _discord_feed(self) -> list[dict[str, Any]]:
        channel = self.discord_channel
        demo = self.discord_demo
        entries: list[dict[str, Any]] = []
        for message in self.discord.messages.values():
            if message.channel.id != channel.id:
                continue
            reacted = (demo.id, CART_EMOJI) in message.reactions
            entries.append(
                {"id": str(message.id), "who": message.author.username, "text": message.content,
                 "bot": False, "reacted": reacted, "reactions": len(message.reactions),
                 "at": message.id >> 22}
            )  # fmt: skip
        dms = [m for m in self.discord.sent if m.recipient_id == demo.id]
        for sent in dms:
            entries.append(
                {"id": "", "who": "hashcart (DM to you)", "text": sent.content, "bot": True,
                 "reacted": False, "reactions": 0, "at": sent.id >> 22}
            )  # fmt: skip
        return sorted(entries, key=lambda e: e["at"])

    async def _cart(self) -> dict[str, Any]:
        account_id = await self.demo_account()
        cart = await self._app().accounts.cart(account_id)
        totals = [money(total["cents"], total["currency"], None) for total in cart["totals"]]
        return {
            "items": [
                {
                    **item,
                    "via": platform_name(item["added_via"]),
                    "price": money(item["price_cents"] * item["quantity"], item["currency"], None),
                }
                for item in cart["items"]
            ],
            "total": " + ".join(totals) or money(0, "USD", None),
        }

    async def _fingerprint(self) -> tuple[Any, ...]:
        account_id = await self.demo_account()
        return (
            len(self.x.tweets),
            len(self.x.posted),
            len(self.x.dms),
            len(self.slack_lines),
            len(self.slack.responses),
            len(self.discord.messages),
            len(self.discord.sent),
            sum(len(m.reactions) for m in self.discord.messages.values()),
            await self._app().accounts.cart_version(account_id),
        )

    # -- handlers ---------------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.Response:
        hashcart = self._app()
        await self.demo_account()
        return await page(
            request,
            "playground.html",
            products=self.products,
            enabled={name: name in hashcart.platforms for name in ("twitter", "slack", "discord")},
            x_feed=self._x_feed(),
            slack_feed=self._slack_feed(),
            discord_feed=self._discord_feed(),
            cart=await self._cart(),
            hashtag=hashcart.settings.hashtag,
        )

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        # A change between rendering the page and opening this stream would go unseen: start with
        # one "changed", so the page fetches itself once more.
        await response.write(b"retry: 1000\n\nevent: changed\ndata: connected\n\n")
        seen = await self._fingerprint()
        ends = time.monotonic() + STREAM_SECONDS
        closing = request.app.get(SHUTDOWN_KEY)
        with contextlib.suppress(ConnectionResetError):
            while time.monotonic() < ends and not (closing and closing.is_set()):
                await asyncio.sleep(POLL_SECONDS)
                now = await self._fingerprint()
                if now != seen:
                    seen = now
                    await response.write(b"event: changed\ndata: playground\n\n")
                else:
                    await response.write(b": still here\n\n")
        return response

    def _product_url(self, form: dict[str, Any]) -> str:
        chosen = form.get("product", "")
        known = {p.product_id: p.url for p in self.products}
        return str(known.get(chosen, chosen.strip()))

    async def _x_tweet(self, request: web.Request, form: dict[str, Any]) -> web.Response:
        text = form.get("text", "").strip()[:200] or "Look at this"
        self.x.add_tweet(self.x.tweet(text, user=self.x_bob, urls=[self._product_url(form)]))
        return see_other("/playground#x")

    async def _x_reply(self, request: web.Request, form: dict[str, Any]) -> web.Response:
        parent = self.x.tweets.get(form.get("tweet_id", ""))
        if parent is None:
            return see_other("/playground#x")
        await self.demo_account()
        text = form.get("text", "").strip()[:200] or f"#{self._app().settings.hashtag}"
        reply = self.x.tweet(text, user=self.x_demo, in_reply_to=parent)
        await self.x.deliver(f"{self.base_url}/twitter/webhook", [reply])
        return see_other("/playground#x")

    async def _slack_command(self, request: web.Request, form: dict[str, Any]) -> web.Response:
        text = _without_slash_command(form.get("text", "").strip()[:300])
        await self.demo_account()
        response_url = self.slack.new_response_url()
        self.slack_lines.append(SlackLine(text, time.time()))
        await self.slack.slash_command(
            f"{self.base_url}/slack/events",
            _slack_links(text),
            user_id=SLACK_DEMO,
            channel_id=SLACK_CHANNEL,
            response_url=response_url,
        )
        return see_other("/playground#slack")

    async def _discord_message(self, request: web.Request, form: dict[str, Any]) -> web.Response:
        text = form.get("text", "").strip()[:200] or "Deal of the day:"
        self.discord.post_message(
            self.discord_channel, self.discord_bob, f"{text} {self._product_url(form)}"
        )
        return see_other("/playground#discord")

    async def _discord_react(self, request: web.Request, form: dict[str, Any]) -> web.Response:
        try:
            message = self.discord.messages.get(int(form.get("message_id", "")))
        except ValueError:
            message = None
        if message is not None:
            await self.demo_account()
            reacted = (self.discord_demo.id, CART_EMOJI) in message.reactions
            await self.discord.react(self.discord_demo, message, CART_EMOJI, remove=reacted)
        return see_other("/playground#discord")

    async def _signin(self, request: web.Request, form: dict[str, Any]) -> web.Response:
        account_id = await self.demo_account()
        version = await self._app().accounts.session_version(account_id)
        session_of(request).sign_in(account_id, version or 0)
        return see_other("/cart")


def _tweet_text(stored: dict[str, Any]) -> str:
    """Show expanded links instead of t.co wrappers, as X's own timeline does."""
    text = str(stored.get("text", ""))
    for entity in stored.get("entities", {}).get("urls", []):
        text = text.replace(entity["url"], entity["expanded_url"])
    return text


def _without_slash_command(text: str) -> str:
    """The pane shows `/cart` before the field, but people type the whole `/cart add <link>`
    (as the README says): take both."""
    command, _, rest = text.partition(" ")
    return rest.strip() if command.lower() == SLACK_COMMAND else text


def _slack_links(text: str) -> str:
    """Slack wraps pasted links as <url|label> in command text; do the same for typed ones."""
    return " ".join(
        f"<{word}|{word.split('://', 1)[1]}>" if word.startswith(("http://", "https://")) else word
        for word in text.split(" ")
    )
