"""Each admin route declared once, with its models: the server and the OpenAPI document both
read this table."""

from __future__ import annotations

from hashcart.web.admin.handlers import (
    create_account,
    delete_account,
    delete_policy_entry,
    find_accounts,
    get_account,
    get_cart,
    get_orders,
    get_policy,
    link_identity,
    list_events,
    put_policy_entry,
    put_product,
    unlink_identity,
)
from hashcart.web.admin.models import (
    Account,
    AccountCreated,
    AccountIn,
    AccountList,
    Cart,
    Error,
    EventList,
    IdentityIn,
    LinkResult,
    OrderList,
    Policy,
    Product,
    ProductIn,
)
from hashcart.web.admin.requests import Route

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
