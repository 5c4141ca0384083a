"""The admin API's handlers: accounts and identities, carts and orders, products, the event
log, the policy lists."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from hashcart.catalog import CatalogEntry
from hashcart.handoff import cart_lines, handoffs
from hashcart.web.admin.models import (
    PRODUCT_ID,
    Account,
    AccountCreated,
    AccountIn,
    AccountList,
    Cart,
    Event,
    EventList,
    IdentityIn,
    LinkResult,
    OrderList,
    OrderOut,
    Policy,
    Product,
    ProductIn,
    StoreHandoff,
)
from hashcart.web.admin.requests import Reject, as_json, read_body
from hashcart.web.server import hashcart_of


async def create_account(request: web.Request) -> web.Response:
    body = await read_body(request, AccountIn)
    assert isinstance(body, AccountIn)
    created = await hashcart_of(request).accounts.create(body.name)
    return as_json(AccountCreated(**created), 201)


async def find_accounts(request: web.Request) -> web.Response:
    query = request.query
    accounts = hashcart_of(request).accounts
    if "name" in query:
        found = await accounts.find(name=query["name"])
    elif "platform" in query and "user_id" in query:
        found = await accounts.find(platform=query["platform"], user_id=query["user_id"])
    else:
        raise Reject(400, "bad_query", "give ?name=N or ?platform=P&user_id=U")
    return as_json(AccountList(accounts=[Account(**a) for a in found]))


async def get_account(request: web.Request) -> web.Response:
    found = await hashcart_of(request).accounts.get(request.match_info["account_id"])
    return as_json(Account(**found))


async def delete_account(request: web.Request) -> web.Response:
    await hashcart_of(request).accounts.delete(request.match_info["account_id"])
    return web.Response(status=204)


async def link_identity(request: web.Request) -> web.Response:
    body = await read_body(request, IdentityIn)
    assert isinstance(body, IdentityIn)
    hashcart = hashcart_of(request)
    account_id = request.match_info["account_id"]
    applied = await hashcart.link_identity(account_id, body.platform, body.user_id, body.user_name)
    account = Account(**await hashcart.accounts.get(account_id))
    return as_json(LinkResult(account=account, pending_applied=len(applied)), 201)


async def unlink_identity(request: web.Request) -> web.Response:
    info = request.match_info
    await hashcart_of(request).accounts.unlink(
        info["account_id"], info["platform"], info["user_id"]
    )
    return web.Response(status=204)


async def get_cart(request: web.Request) -> web.Response:
    hashcart = hashcart_of(request)
    cart = await hashcart.accounts.cart(request.match_info["account_id"])
    stores = await handoffs(hashcart, cart_lines(cart))
    body = Cart(**cart, handoff=[StoreHandoff(**store.to_json()) for store in stores])
    # A mixed-currency cart has no one total: `total_cents` is left out, not null.
    unset = {"total_cents"} if body.total_cents is None else None
    return web.Response(text=body.model_dump_json(exclude=unset), content_type="application/json")


async def get_orders(request: web.Request) -> web.Response:
    found = await hashcart_of(request).accounts.orders(request.match_info["account_id"])
    return as_json(OrderList(orders=[OrderOut(**order) for order in found]))


async def put_product(request: web.Request) -> web.Response:
    product_id = request.match_info["product_id"]
    if not _matches(PRODUCT_ID, product_id):
        raise Reject(422, "invalid", "product_id: must look like store:sku")
    body = await read_body(request, ProductIn)
    assert isinstance(body, ProductIn)
    entry = CatalogEntry(
        product_id, body.title, body.price_cents, body.currency, body.available, body.barcode
    )
    created = (await hashcart_of(request).catalog.upsert([entry]))[product_id]
    return as_json(Product(product_id=product_id, **body.model_dump()), 201 if created else 200)


async def list_events(request: web.Request) -> web.Response:
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise Reject(400, "bad_query", "limit must be a whole number") from None
    if not 1 <= limit <= 1000:
        raise Reject(400, "bad_query", "limit must be between 1 and 1000")
    rows = await hashcart_of(request).accounts.events(limit, request.query.get("outcome"))
    return as_json(EventList(events=[Event(**row) for row in rows]))


_POLICY_VALUES = {
    "identity": r"^[a-z0-9_-]{1,32}:[^\s/]{1,64}$",
    "store": r"^[a-z0-9_-]{1,32}$",
}


def _policy_entry(request: web.Request) -> tuple[Any, Any, str]:
    info = request.match_info
    name, kind, value = info["list"], info["kind"], info["value"]
    if name not in ("deny", "allow"):
        raise Reject(404, "not_found", "the lists are deny and allow")
    if kind not in _POLICY_VALUES:
        raise Reject(404, "not_found", "entries are of kind identity or store")
    if not _matches(_POLICY_VALUES[kind], value):
        shape = "platform:user_id" if kind == "identity" else "a store name such as amazon"
        raise Reject(422, "invalid", f"value: an {kind} entry looks like {shape}")
    return name, kind, value


async def get_policy(request: web.Request) -> web.Response:
    listing = await hashcart_of(request).policy_rules.listing()
    return as_json(Policy.model_validate(listing))


async def put_policy_entry(request: web.Request) -> web.Response:
    name, kind, value = _policy_entry(request)
    await hashcart_of(request).policy_rules.add(name, kind, value)
    return as_json(Policy.model_validate(await hashcart_of(request).policy_rules.listing()), 201)


async def delete_policy_entry(request: web.Request) -> web.Response:
    name, kind, value = _policy_entry(request)
    if not await hashcart_of(request).policy_rules.remove(name, kind, value):
        raise Reject(404, "not_found", f"{value!r} is not on the {name} list of {kind} entries")
    return web.Response(status=204)


def _matches(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None
