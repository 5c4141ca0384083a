"""What the admin API reads and answers: strict input models and the output models its
OpenAPI document describes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hashcart.barcodes import InvalidBarcode, parse_barcode

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
