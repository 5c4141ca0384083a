"""The admin API's handlers, each with its route: accounts and identities, carts and orders,
products, the event log, the policy lists; and how every route treats a request: the bearer
token, a JSON body checked against its model, refusals answered in the one error shape.

`ROUTES` is filled as the handlers are declared; the server and the OpenAPI document both read
it, so the document cannot describe a route the server does not have.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hashcart.catalog import CatalogEntry
from hashcart.errors import Conflict, NotFound
from hashcart.handoff import cart_lines, handoffs
from hashcart.web.admin.models import (
    PRODUCT_ID,
    Account,
    AccountCreated,
    AccountIn,
    AccountList,
    Cart,
    Error,
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
from hashcart.web.server import hashcart_of, json_error

Model = TypeVar("Model", bound=BaseModel)
HandlerFn = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    handler: HandlerFn
    responses: dict[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    query: tuple[tuple[str, str], ...] = ()


def refusal(request: web.Request) -> web.Response | None:
    token = hashcart_of(request).settings.admin_token
    if not token:
        return json_error(403, "admin_disabled", "the admin API is off: set HASHCART_ADMIN_TOKEN")
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
        challenge = {"WWW-Authenticate": "Bearer"}
        return json_error(401, "unauthorized", "a valid bearer token is required", **challenge)
    return None


async def read_body(request: web.Request, model: type[Model]) -> Model:
    if request.content_type != "application/json":
        raise Reject(415, "unsupported_media_type", "send the body as application/json")
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deep for the parser
        raise Reject(400, "malformed_json", "the body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise Reject(422, "invalid", f"{where}: {first['msg']}") from None


class Reject(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def as_json(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        status=status, text=model.model_dump_json(), content_type="application/json"
    )


def guarded(handler: HandlerFn) -> HandlerFn:
    async def guarded(request: web.Request) -> web.StreamResponse:
        refused = refusal(request)
        if refused is not None:
            return refused
        try:
            return await handler(request)
        except Reject as exc:
            return json_error(exc.status, exc.code, exc.message)
        except NotFound as exc:
            return json_error(404, "not_found", str(exc))
        except Conflict as exc:
            return json_error(409, "conflict", str(exc))

    return guarded


ACCOUNTS = "/api/v1/accounts"
ACCOUNT = ACCOUNTS + "/{account_id}"
POLICY_ENTRY = "/api/v1/policy/{list}/{kind}/{value}"
ROUTES: list[Route] = []


def _route(
    method: str,
    path: str,
    summary: str,
    answers: dict[int, type[BaseModel] | None],
    errors: tuple[int, ...] = (),
    body: type[BaseModel] | None = None,
    query: tuple[tuple[str, str], ...] = (),
) -> Callable[[HandlerFn], HandlerFn]:
    """Declare the handler's route: `answers` on success, the `errors` answered as `Error`."""

    def declare(handler: HandlerFn) -> HandlerFn:
        responses = {**answers, **dict.fromkeys(errors, Error)}
        ROUTES.append(Route(method, path, summary, handler, responses, body, query))
        return handler

    return declare


@_route("POST", ACCOUNTS, "Create an account", {201: AccountCreated}, (409, 422), body=AccountIn)
async def create_account(request: web.Request) -> web.Response:
    body = await read_body(request, AccountIn)
    created = await hashcart_of(request).accounts.create(body.name)
    return as_json(AccountCreated(**created), 201)


@_route(
    "GET",
    ACCOUNTS,
    "Find an account by name or by linked identity",
    {200: AccountList},
    (400,),
    query=(("name", "account name"), ("platform", "platform"), ("user_id", "platform user id")),
)
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


@_route("GET", ACCOUNT, "An account with its linked identities", {200: Account}, (404,))
async def get_account(request: web.Request) -> web.Response:
    found = await hashcart_of(request).accounts.get(request.match_info["account_id"])
    return as_json(Account(**found))


@_route("DELETE", ACCOUNT, "Delete an account and its personal data", {204: None}, (404,))
async def delete_account(request: web.Request) -> web.Response:
    await hashcart_of(request).accounts.delete(request.match_info["account_id"])
    return web.Response(status=204)


@_route(
    "POST",
    ACCOUNT + "/identities",
    "Link a platform identity; applies its pending adds",
    {201: LinkResult},
    (404, 409, 422),
    body=IdentityIn,
)
async def link_identity(request: web.Request) -> web.Response:
    body = await read_body(request, IdentityIn)
    hashcart = hashcart_of(request)
    account_id = request.match_info["account_id"]
    applied = await hashcart.link_identity(account_id, body.platform, body.user_id, body.user_name)
    account = Account(**await hashcart.accounts.get(account_id))
    return as_json(LinkResult(account=account, pending_applied=len(applied)), 201)


@_route(
    "DELETE",
    ACCOUNT + "/identities/{platform}/{user_id}",
    "Unlink a platform identity",
    {204: None},
    (404,),
)
async def unlink_identity(request: web.Request) -> web.Response:
    info = request.match_info
    await hashcart_of(request).accounts.unlink(
        info["account_id"], info["platform"], info["user_id"]
    )
    return web.Response(status=204)


@_route("GET", ACCOUNT + "/cart", "The account's cart", {200: Cart}, (404,))
async def get_cart(request: web.Request) -> web.Response:
    hashcart = hashcart_of(request)
    cart = await hashcart.accounts.cart(request.match_info["account_id"])
    stores = await handoffs(hashcart, cart_lines(cart))
    body = Cart(**cart, handoff=[StoreHandoff(**store.to_json()) for store in stores])
    # A mixed-currency cart has no one total: `total_cents` is left out, not null.
    unset = {"total_cents"} if body.total_cents is None else None
    return web.Response(text=body.model_dump_json(exclude=unset), content_type="application/json")


@_route(
    "GET",
    ACCOUNT + "/orders",
    "Orders placed through confirmed checkout, newest first",
    {200: OrderList},
    (404,),
)
async def get_orders(request: web.Request) -> web.Response:
    found = await hashcart_of(request).accounts.orders(request.match_info["account_id"])
    return as_json(OrderList(orders=[OrderOut(**order) for order in found]))


@_route(
    "PUT",
    "/api/v1/products/{product_id}",
    "Create or update a product in the local catalog",
    {200: Product, 201: Product},
    (422,),
    body=ProductIn,
)
async def put_product(request: web.Request) -> web.Response:
    product_id = request.match_info["product_id"]
    if not re.fullmatch(PRODUCT_ID, product_id):
        raise Reject(422, "invalid", "product_id: must look like store:sku")
    body = await read_body(request, ProductIn)
    entry = CatalogEntry(
        product_id, body.title, body.price_cents, body.currency, body.available, body.barcode
    )
    created = (await hashcart_of(request).catalog.upsert([entry]))[product_id]
    return as_json(Product(product_id=product_id, **body.model_dump()), 201 if created else 200)


@_route(
    "GET",
    "/api/v1/events",
    "The latest processed commands with their outcome",
    {200: EventList},
    (400,),
    query=(("limit", "1 to 1000, default 50"), ("outcome", "only this outcome code")),
)
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
    if not re.fullmatch(_POLICY_VALUES[kind], value):
        shape = "platform:user_id" if kind == "identity" else "a store name such as amazon"
        raise Reject(422, "invalid", f"value: an {kind} entry looks like {shape}")
    return name, kind, value


@_route("GET", "/api/v1/policy", "The deny and allow lists of identities and stores", {200: Policy})
async def get_policy(request: web.Request) -> web.Response:
    listing = await hashcart_of(request).policy_rules.listing()
    return as_json(Policy.model_validate(listing))


@_route(
    "PUT",
    POLICY_ENTRY,
    "Put an identity (platform:user_id) or a store on the deny or allow list",
    {201: Policy},
    (404, 422),
)
async def put_policy_entry(request: web.Request) -> web.Response:
    name, kind, value = _policy_entry(request)
    await hashcart_of(request).policy_rules.add(name, kind, value)
    return as_json(Policy.model_validate(await hashcart_of(request).policy_rules.listing()), 201)


@_route("DELETE", POLICY_ENTRY, "Take an entry off a list", {204: None}, (404, 422))
async def delete_policy_entry(request: web.Request) -> web.Response:
    name, kind, value = _policy_entry(request)
    if not await hashcart_of(request).policy_rules.remove(name, kind, value):
        raise Reject(404, "not_found", f"{value!r} is not on the {name} list of {kind} entries")
    return web.Response(status=204)
