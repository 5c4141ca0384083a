"""The cart page: what is in the cart, where it came from, linked accounts, privacy, language.

Only the signed-in owner sees or changes a cart: every handler takes the account from the
session, never from the request. The page stays current through server-sent events: the event
stream waits for the account's cart to change (`hashcart.notify`, across nodes on PostgreSQL)
and says "changed"; the page then fetches itself again. Nothing is polled, and the streams a
node keeps open are capped per account and in all, so they cannot be used to wear it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from hashcart.account_language import chosen_language, language_name, offered, set_language
from hashcart.errors import NotFound
from hashcart.handoff import Handoff, cart_lines, handoffs
from hashcart.i18n import moment, money
from hashcart.web.pages import (
    current_account,
    form_handler,
    identity_label,
    page,
    page_locale,
    platform_name,
    see_other,
)
from hashcart.web.server import HASHCART_KEY, hashcart_of, json_error
from hashcart.web.session import SETTINGS_KEY, Handler, session_of, with_session

#: How often an idle stream says it is still there (so proxies keep it), and how long one
#: stream lives before the browser reconnects (EventSource does so by itself), so no stream
#: outlives a deploy for long.
HEARTBEAT_SECONDS = 15.0
#: How soon a stream the browser closed gives its place back (no database involved).
GONE_CHECK_SECONDS = 1.0
STREAM_SECONDS = 300.0
#: What a refused stream is told to wait before trying again.
STREAM_RETRY_SECONDS = 30
MAX_QUANTITY = 999

SHUTDOWN_KEY: web.AppKey[asyncio.Event] = web.AppKey("hashcart_pages_shutdown", asyncio.Event)


class OpenStreams(Counter[str]):
    """How many event streams this node has open per account (and in all: `total()`)."""

    def open(self, account_id: str, per_account: int, per_node: int) -> bool:
        if self[account_id] >= per_account or self.total() >= per_node:
            return False
        self[account_id] += 1
        return True

    def close(self, account_id: str) -> None:
        self[account_id] -= 1
        if self[account_id] <= 0:
            del self[account_id]


STREAMS_KEY: web.AppKey[OpenStreams] = web.AppKey("hashcart_open_streams", OpenStreams)


def _when(epoch: float, locale: str | None) -> tuple[str, str]:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(), moment(epoch, locale)


def _view(
    cart: dict[str, Any], locale: str | None, stores: list[Handoff], ttl: float, now: float
) -> dict[str, Any]:
    """The cart for the page: each line with its store, image and whether its price is older
    than `HASHCART_PRODUCT_TTL`; one total per currency; one hand-off button per store."""
    items = []
    for item in cart["items"]:
        iso, text = _when(item["added_at"], locale)
        priced_at = item.get("priced_at")
        image = item.get("image_url")
        items.append(
            {
                **item,
                "unit_price": money(item["price_cents"], item["currency"], locale),
                "line_total": money(
                    item["price_cents"] * item["quantity"], item["currency"], locale
                ),
                "platform": platform_name(item["added_via"]),
                "added_iso": iso,
                "added_text": text,
                "image": image if image and image.startswith(("https://", "http://")) else None,
                "stale": priced_at is not None and now - priced_at > ttl,
                "priced_text": _when(priced_at, locale)[1] if priced_at is not None else None,
            }
        )
    totals = [money(total["cents"], total["currency"], locale) for total in cart["totals"]]
    return {
        "items": items,
        "total": " + ".join(totals) or money(0, "USD", locale),
        "totals": totals,
        "handoff": [store.to_json() for store in stores],
    }


@with_session
async def cart_page(request: web.Request) -> web.Response:
    account = await current_account(request)
    if account is None:
        return see_other("/signin?next=/cart")
    hashcart = hashcart_of(request)
    cart = await hashcart.accounts.cart(account["id"])
    stores = await handoffs(hashcart, cart_lines(cart))
    identities = [
        {
            **identity,
            "label": identity_label(
                identity["platform"], identity["user_id"], identity["user_name"]
            ),
            "platform_name": platform_name(identity["platform"]),
        }
        for identity in account["identities"]
    ]
    orders = [
        {
            "id": order["id"],
            "when": _when(order["created_at"], account.get("locale")),
            "count": sum(line["quantity"] for line in order["items"]),
            "total": money(order["total_cents"], order["currency"], account.get("locale")),
            "status": order["status"],
        }
        for order in await hashcart.accounts.orders(account["id"])
    ]
    return await page(
        request,
        "cart.html",
        account=account,
        cart=_view(cart, account.get("locale"), stores, hashcart.settings.product_ttl, time.time()),
        orders=orders,
        identities=identities,
        dm_only=account["dm_only"],
        hashtag=hashcart.settings.hashtag,
        language=account.get("language"),
        languages=offered(),
        notice=_language_notice(request, account),
    )


def _language_notice(request: web.Request, account: dict[str, Any]) -> str | None:
    """The notice of a saved language, in the page's language (the one just chosen, if any);
    other notices are the page's own."""
    if request.query.get("done") != "language":
        return None
    language = account.get("language")
    locale = page_locale(account, request.headers.get("Accept-Language"))
    hashcart = hashcart_of(request)
    if not language:
        return hashcart.translate(locale, "web.language_auto")
    name = language_name(language)
    return hashcart.translate(locale, "web.language_saved", language_name=name)


Form = dict[str, Any]
Account = dict[str, Any]
OwnerHandler = Callable[[web.Request, Form, Account], Awaitable[web.Response]]


def owner_form(handler: OwnerHandler) -> Handler:
    """A cart form handler: runs with the posted form and the signed-in account, after the
    CSRF check; a refused post gets 403, a signed-out one goes to sign-in."""

    @form_handler
    async def checked(request: web.Request, form: Form) -> web.Response:
        account = await current_account(request)
        if account is None:
            return see_other("/signin?next=/cart")
        return await handler(request, form, account)

    return checked


@owner_form
async def set_quantity(request: web.Request, form: Form, account: Account) -> web.Response:
    try:
        quantity = int(form.get("quantity", ""))
    except ValueError:
        quantity = -1
    if not 0 <= quantity <= MAX_QUANTITY:
        return see_other("/cart")
    await hashcart_of(request).accounts.set_quantity(
        account["id"], form.get("product_id", ""), quantity
    )
    _changed(request, account)
    return see_other("/cart?done=" + ("quantity" if quantity else "removed"))


@owner_form
async def remove_item(request: web.Request, form: Form, account: Account) -> web.Response:
    await hashcart_of(request).accounts.set_quantity(account["id"], form.get("product_id", ""), 0)
    _changed(request, account)
    return see_other("/cart?done=removed")


@owner_form
async def unlink(request: web.Request, form: Form, account: Account) -> web.Response:
    with contextlib.suppress(NotFound):  # already unlinked, or someone else's: nothing to do
        await hashcart_of(request).accounts.unlink(
            account["id"], form.get("platform", ""), form.get("user_id", "")
        )
    _changed(request, account)
    return see_other("/cart?done=unlinked")


@owner_form
async def privacy(request: web.Request, form: Form, account: Account) -> web.Response:
    wanted = form.get("dm_only", "")
    if wanted in ("on", "off"):
        await hashcart_of(request).accounts.set_dm_only(account["id"], wanted == "on")
        _changed(request, account)
    return see_other("/cart?done=privacy")


@owner_form
async def language(request: web.Request, form: Form, account: Account) -> web.Response:
    chosen = chosen_language(form.get("language", ""))
    if chosen is None:
        return see_other("/cart")
    await set_language(hashcart_of(request).engine, account["id"], chosen or None)
    _changed(request, account)
    return see_other("/cart?done=language")


@with_session
async def cart_events(request: web.Request) -> web.StreamResponse:
    account = await current_account(request)
    if account is None:
        return web.Response(status=401, text="sign in first", content_type="text/plain")
    settings = request.app[SETTINGS_KEY]
    streams = request.app[STREAMS_KEY]
    account_id = account["id"]
    if not streams.open(
        account_id, settings.live_streams_per_account, settings.live_streams_per_node
    ):
        text = "too many live-update streams are open; close other tabs of the cart page"
        retry = {"Retry-After": str(STREAM_RETRY_SECONDS)}
        return json_error(429, "too_many_streams", text, **retry)
    try:
        with hashcart_of(request).cart_changes.watch(account_id) as woken:
            return await _stream(request, woken, account_id)
    finally:
        streams.close(account_id)


async def _stream(
    request: web.Request, woken: asyncio.Event, account_id: str
) -> web.StreamResponse:
    shutdown = request.app[SHUTDOWN_KEY]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    # A change between rendering the page and opening this stream would go unseen: start with
    # one "changed", so the page fetches itself once more.
    await response.write(b"retry: 2000\n\nevent: changed\ndata: connected\n\n")
    now = time.monotonic()
    ends, heartbeat = now + STREAM_SECONDS, now + HEARTBEAT_SECONDS
    with contextlib.suppress(ConnectionResetError):
        while time.monotonic() < ends and not shutdown.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), GONE_CHECK_SECONDS)
            if shutdown.is_set() or _gone(request):
                break
            if woken.is_set():
                woken.clear()
                if not await _session_holds(request, account_id):
                    break  # signed out everywhere, a new password, the account forgotten
                await response.write(b"event: changed\ndata: cart\n\n")
            elif time.monotonic() >= heartbeat:
                await response.write(b": still here\n\n")
            else:
                continue
            heartbeat = time.monotonic() + HEARTBEAT_SECONDS
    return response


async def _session_holds(request: web.Request, account_id: str) -> bool:
    version = await hashcart_of(request).accounts.session_version(account_id)
    return version is not None and version == session_of(request).version


def _gone(request: web.Request) -> bool:
    """The browser closed the stream (aiohttp does not cancel the handler when it does)."""
    transport = request.transport
    return transport is None or transport.is_closing()


def _changed(request: web.Request, account: dict[str, Any]) -> None:
    """The owner changed the cart page's content here: other open tabs of it update too."""
    hashcart_of(request).cart_changes.changed([account["id"]])


def add_routes(app: web.Application) -> None:
    app[SHUTDOWN_KEY] = asyncio.Event()
    app[STREAMS_KEY] = OpenStreams()

    async def end_streams(app: web.Application) -> None:
        app[SHUTDOWN_KEY].set()
        app[HASHCART_KEY].cart_changes.wake_all()

    app.on_shutdown.append(end_streams)
    app.router.add_get("/cart", cart_page)
    app.router.add_post("/cart/quantity", set_quantity)
    app.router.add_post("/cart/remove", remove_item)
    app.router.add_post("/cart/unlink", unlink)
    app.router.add_post("/cart/privacy", privacy)
    app.router.add_post("/cart/language", language)
    app.router.add_get("/cart/events", cart_events)
