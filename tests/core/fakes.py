"""A throwaway store and platform for the core's own tests (plugins have their real ones)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from hashcart import CartCommand, OutgoingReply, ProductRef, ReplyTarget, hookimpl

SHOP_URL = re.compile(r"^https://shop\.test/p/([A-Z0-9]{4,10})$")


class ShopPlugin:
    """Products are `https://shop.test/p/<SKU>`; `https://sho.rt/<x>` redirects through a table."""

    def __init__(self) -> None:
        self.redirects: dict[str, str] = {}

    @hookimpl
    def hashcart_product_from_url(self, url: str) -> ProductRef | None:
        match = SHOP_URL.match(url)
        return ProductRef("shop", match.group(1), url) if match else None

    @hookimpl
    async def hashcart_resolve_redirect(self, url: str) -> str | None:
        await asyncio.sleep(0)
        return self.redirects.get(url)


@dataclass
class FakePlatform:
    """Records what the reply sender hands it; `failures` decides per call whether to fail."""

    name: str = "fake"
    sent: list[OutgoingReply] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    on_send: Callable[[OutgoingReply], None] | None = None
    started: bool = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def send_reply(self, reply: OutgoingReply) -> None:
        if self.failures:
            raise self.failures.pop(0)
        if self.on_send:
            self.on_send(reply)
        self.sent.append(reply)


class FakePlatformPlugin:
    def __init__(self, platform: FakePlatform) -> None:
        self.platform = platform

    @hookimpl
    def hashcart_platform(self) -> FakePlatform:
        return self.platform


def command(
    action: str = "add",
    event_id: str = "e1",
    user_id: str = "u1",
    reference: str | None = "https://shop.test/p/SKU1",
    **kwargs: object,
) -> CartCommand:
    return CartCommand(
        platform="fake",
        user_id=user_id,
        action=action,  # type: ignore[arg-type]
        event_id=event_id,
        reply_to=ReplyTarget("fake", user=user_id, channel="c1"),
        reference=reference,
        **kwargs,  # type: ignore[arg-type]
    )
