"""The admin JSON API (`/api/v1`): validated input, one error shape, an OpenAPI document.

Each route is declared once in `ROUTES` with its models; the OpenAPI document is built from the
same table, so it cannot describe a route the server does not have.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hashcart.barcodes import InvalidBarcode, parse_barcode
from hashcart.catalog import CatalogEntry
from hashcart.errors import Conflict, NotFound
from hashcart.handoff import cart_lines, handoffs
from hashcart.web.server import hashcart_of, json_error

PRODUCT_ID = r"^[a-z0-9_-]{1,32}:[A-Za-z0-9._-]{1,64}$"
NAME = r"^[A-Za-z0-9._-]{1,100}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AccountIn(_Strict):
    name: str = Field(pattern=NAME, description="Unique account name.")


class IdentityIn(_Strict):
    platform: str = Field(pattern=r"^[a-z0-9_-]{1,32}$")
    user_id: str = Field(min_length=1, max_length=64)
    user_name: str | None = Field(default=None, max_length=100)


class ProductIn(_Strict):
    title: str = Field(min_length=1, max_length=300)
    price_cents: int = Field(ge=0, le=10**9)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    available: bool = True
    barcode: str | None = Field(
        default=None, description="EAN-13, UPC-A, ISBN-13 or ISBN-10; stored as its 13 digits"
    )

    @field_validator("barcode")
    @classmethod
    def _valid_barcode(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = parse_barcode(value)
        except InvalidBarcode as exc:
            raise ValueError(str(exc)) from None
        if parsed is None:
            raise ValueError("not shaped like a barcode")
        return parsed.gtin13


class Identity(BaseModel):
    platform: str
    user_id: str
    user_name: str | None = None


class Account(BaseModel):
    id: str
    name: str
    dm_only: bool = False
    locale: str | None = None
    identities: list[Identity] = []


class AccountCreated(BaseModel):
    id: str
    name: str


class AccountList(BaseModel):
    accounts: list[Account]


class LinkResult(BaseModel):
    account: Account
    pending_applied: int = Field(description="Adds made before linking, applied now.")


class CartItem(BaseModel):
    product_id: str
    title: str
    quantity: int
    price_cents: int
    currency: str
    added_via: str
    added_at: float
    store: str = Field(description="the store part of product_id: amazon, or a shop's host")
    url: str | None = Field(None, description="the product's page, when known")
    image_url: str | None = None
    priced_at: float | None = Field(
        None,
        description="when a live source gave the price (epoch seconds); null for catalog prices",
    )


class CurrencyTotal(BaseModel):
    currency: str
    cents: int


class StoreHandoff(BaseModel):
    store: str = Field(description="amazon, or a shop's host")
    url: str = Field(description="opens the store's own cart filled with this store's lines")
    label: str = Field(description="the store for people, e.g. amazon.de")


class Cart(BaseModel):
    items: list[CartItem]
    total_cents: int | None = Field(
        None,
        description="the sum of all lines when they share one currency (0 when the cart is "
        "empty); absent when the cart holds several currencies, which are never added",
    )
    totals: list[CurrencyTotal] = Field(description="one sum per currency")
    handoff: list[StoreHandoff] = Field(
        description="one entry per store (per marketplace for Amazon) that can take its lines "
        "into its own cart"
    )


class Product(BaseModel):
    product_id: str
    title: str
    price_cents: int
    currency: str
    available: bool
    barcode: str | None = None


class Event(BaseModel):
    id: int
    event_key: str
    platform: str
    user_id: str | None
    account_id: str | None
    action: str
    product_id: str | None
    outcome: str
    detail: str | None
    created_at: float


class EventList(BaseModel):
    events: list[Event]


class PolicyList(BaseModel):
    identity: list[str] = Field(description="platform:user_id")
    store: list[str]


class Policy(BaseModel):
    deny: PolicyList
    allow: PolicyList


class OrderLine(BaseModel):
    product_id: str
    title: str
    quantity: int
    price_cents: int
    currency: str


class OrderOut(BaseModel):
    id: str
    items: list[OrderLine]
    total_cents: int
    currency: str
    store_reference: str | None
    created_at: float
    status: str = Field(description="pending (the shop is being asked), placed or refused")


class OrderList(BaseModel):
    orders: list[OrderOut]


class ErrorBody(BaseModel):
    code: str
    message: str


class Error(BaseModel):
    error: ErrorBody


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


def _auth(request: web.Request) -> web.Response | None:
    token = hashcart_of(request).settings.admin_token
    if not token:
        return json_error(403, "admin_disabled", "the admin API is off: set HASHCART_ADMIN_TOKEN")
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
        return json_error(
            401,
            "unauthorized",
            "a valid bearer token is required",
            **{"WWW-Authenticate": "Bearer"},
        )
    return None


async def _body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if request.content_type != "application/json":
        raise _Reject(415, "unsupported_media_type", "send the body as application/json")
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deep for the parser
        raise _Reject(400, "malformed_json", "the body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise _Reject(422, "invalid", f"{where}: {first['msg']}") from None


class _Reject(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        status=status, text=model.model_dump_json(), content_type="application/json"
    )


async def create_account(request: web.Request) -> web.Response:
    body = await _body(request, AccountIn)
    assert isinstance(body, AccountIn)
    created = await hashcart_of(request).accounts.create(body.name)
    return _json(AccountCreated(**created), 201)


async def find_accounts(request: web.Request) -> web.Response:
    query = request.query
    accounts = hashcart_of(request).accounts
    if "name" in query:
        found = await accounts.find(name=query["name"])
    elif "platform" in query and "user_id" in query:
        found = await accounts.find(platform=query["platform"], user_id=query["user_id"])
    else:
        raise _Reject(400, "bad_query", "give ?name=N or ?platform=P&user_id=U")
    return _json(AccountList(accounts=[Account(**a) for a in found]))


async def get_account(request: web.Request) -> web.Response:
    found = await hashcart_of(request).accounts.get(request.match_info["account_id"])
    return _json(Account(**found))


async def delete_account(request: web.Request) -> web.Response:
    await hashcart_of(request).accounts.delete(request.match_info["account_id"])
    return web.Response(status=204)


async def link_identity(request: web.Request) -> web.Response:
    body = await _body(request, IdentityIn)
    assert isinstance(body, IdentityIn)
    hashcart = hashcart_of(request)
    account_id = request.match_info["account_id"]
    applied = await hashcart.link_identity(account_id, body.platform, body.user_id, body.user_name)
    account = Account(**await hashcart.accounts.get(account_id))
    return _json(LinkResult(account=account, pending_applied=len(applied)), 201)


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
    return _json(OrderList(orders=[OrderOut(**order) for order in found]))


async def put_product(request: web.Request) -> web.Response:
    product_id = request.match_info["product_id"]
    if not _matches(PRODUCT_ID, product_id):
        raise _Reject(422, "invalid", "product_id: must look like store:sku")
    body = await _body(request, ProductIn)
    assert isinstance(body, ProductIn)
    entry = CatalogEntry(
        product_id, body.title, body.price_cents, body.currency, body.available, body.barcode
    )
    created = (await hashcart_of(request).catalog.upsert([entry]))[product_id]
    return _json(Product(product_id=product_id, **body.model_dump()), 201 if created else 200)


async def list_events(request: web.Request) -> web.Response:
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise _Reject(400, "bad_query", "limit must be a whole number") from None
    if not 1 <= limit <= 1000:
        raise _Reject(400, "bad_query", "limit must be between 1 and 1000")
    rows = await hashcart_of(request).accounts.events(limit, request.query.get("outcome"))
    return _json(EventList(events=[Event(**row) for row in rows]))


_POLICY_VALUES = {
    "identity": r"^[a-z0-9_-]{1,32}:[^\s/]{1,64}$",
    "store": r"^[a-z0-9_-]{1,32}$",
}


def _policy_entry(request: web.Request) -> tuple[Any, Any, str]:
    info = request.match_info
    name, kind, value = info["list"], info["kind"], info["value"]
    if name not in ("deny", "allow"):
        raise _Reject(404, "not_found", "the lists are deny and allow")
    if kind not in _POLICY_VALUES:
        raise _Reject(404, "not_found", "entries are of kind identity or store")
    if not _matches(_POLICY_VALUES[kind], value):
        shape = "platform:user_id" if kind == "identity" else "a store name such as amazon"
        raise _Reject(422, "invalid", f"value: an {kind} entry looks like {shape}")
    return name, kind, value


async def get_policy(request: web.Request) -> web.Response:
    listing = await hashcart_of(request).policy_rules.listing()
    return _json(Policy.model_validate(listing))


async def put_policy_entry(request: web.Request) -> web.Response:
    name, kind, value = _policy_entry(request)
    await hashcart_of(request).policy_rules.add(name, kind, value)
    return _json(Policy.model_validate(await hashcart_of(request).policy_rules.listing()), 201)


async def delete_policy_entry(request: web.Request) -> web.Response:
    name, kind, value = _policy_entry(request)
    if not await hashcart_of(request).policy_rules.remove(name, kind, value):
        raise _Reject(404, "not_found", f"{value!r} is not on the {name} list of {kind} entries")
    return web.Response(status=204)


def _matches(pattern: str, value: str) -> bool:
    import re

    return re.fullmatch(pattern, value) is not None


ACCOUNT = "/api/v1/accounts/{account_id}"
POLICY_ENTRY = "/api/v1/policy/{list}/{kind}/{value}"
ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/api/v1/accounts",
        "Create an account",
        create_account,
        {201: AccountCreated, 409: Error, 422: Error},
        AccountIn,
    ),
    Route(
        "GET",
        "/api/v1/accounts",
        "Find an account by name or by linked identity",
        find_accounts,
        {200: AccountList, 400: Error},
        query=(("name", "account name"), ("platform", "platform"), ("user_id", "platform user id")),
    ),
    Route(
        "GET",
        ACCOUNT,
        "An account with its linked identities",
        get_account,
        {200: Account, 404: Error},
    ),
    Route(
        "DELETE",
        ACCOUNT,
        "Delete an account and its personal data",
        delete_account,
        {204: None, 404: Error},
    ),
    Route(
        "POST",
        ACCOUNT + "/identities",
        "Link a platform identity; applies its pending adds",
        link_identity,
        {201: LinkResult, 404: Error, 409: Error, 422: Error},
        IdentityIn,
    ),
    Route(
        "DELETE",
        ACCOUNT + "/identities/{platform}/{user_id}",
        "Unlink a platform identity",
        unlink_identity,
        {204: None, 404: Error},
    ),
    Route("GET", ACCOUNT + "/cart", "The account's cart", get_cart, {200: Cart, 404: Error}),
    Route(
        "GET",
        ACCOUNT + "/orders",
        "Orders placed through confirmed checkout, newest first",
        get_orders,
        {200: OrderList, 404: Error},
    ),
    Route(
        "PUT",
        "/api/v1/products/{product_id}",
        "Create or update a product in the local catalog",
        put_product,
        {200: Product, 201: Product, 422: Error},
        ProductIn,
    ),
    Route(
        "GET",
        "/api/v1/events",
        "The latest processed commands with their outcome",
        list_events,
        {200: EventList, 400: Error},
        query=(("limit", "1 to 1000, default 50"), ("outcome", "only this outcome code")),
    ),
    Route("GET", "/api/v1/policy", "The deny and allow lists of identities and stores", get_policy,
          {200: Policy}),
    Route("PUT", POLICY_ENTRY,
          "Put an identity (platform:user_id) or a store on the deny or allow list",
          put_policy_entry, {201: Policy, 404: Error, 422: Error}),
    Route("DELETE", POLICY_ENTRY, "Take an entry off a list", delete_policy_entry,
          {204: None, 404: Error, 422: Error}),
)  # fmt: skip


def _guarded(handler: HandlerFn) -> HandlerFn:
    async def guarded(request: web.Request) -> web.StreamResponse:
        refused = _auth(request)
        if refused is not None:
            return refused
        try:
            return await handler(request)
        except _Reject as exc:
            return json_error(exc.status, exc.code, exc.message)
        except NotFound as exc:
            return json_error(404, "not_found", str(exc))
        except Conflict as exc:
            return json_error(409, "conflict", str(exc))

    return guarded


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def openapi_document() -> dict[str, Any]:
    from hashcart import __version__

    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas[name] = definition
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    paths: dict[str, Any] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.handler.__name__,
            "security": [{"bearer": []}],
            "responses": {
                str(status): (
                    {"description": "no content"}
                    if model is None
                    else {
                        "description": model.__name__,
                        "content": {"application/json": {"schema": ref(model)}},
                    }
                )
                for status, model in route.responses.items()
            },
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_params(route.path)
        ] + [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in route.query
        ]
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(route.body)}},
            }
        # Every route can refuse the caller; a route with a body also refuses one that is not
        # JSON (400) or not sent as JSON (415), before its own validation (422).
        refusals = ["401"] + (["400", "415"] if route.body is not None else [])
        for status in refusals:
            operation["responses"][status] = {
                "description": "Error",
                "content": {"application/json": {"schema": ref(Error)}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "hashcart admin API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _path_params(path: str) -> list[str]:
    import re

    return re.findall(r"{(\w+)}", path)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", openapi)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _guarded(route.handler))
