"""The command model: every platform event that asks for something becomes one `CartCommand`.

Plugins translate platform payloads into these frozen objects; the core never sees a raw payload.
Everything here is plain data so it can be logged, stored as a pending add, and compared in tests.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any


class Action(enum.StrEnum):
    ADD = "add"
    REMOVE = "remove"
    LIST = "list"
    CLEAR = "clear"
    LINK = "link"
    UNLINK = "unlink"
    HELP = "help"
    PRIVACY = "privacy"
    FORGET = "forget"
    CHECKOUT = "checkout"
    CONFIRM = "confirm"
    LANGUAGE = "language"


#: Actions that need a product reference.
PRODUCT_ACTIONS = frozenset({Action.ADD, Action.REMOVE})


#: Bounds of the strings a platform hands in, cut where the command is built so that no
#: column refuses a row (PostgreSQL would, and one refused row must not stall a platform).
MAX_ID = 64  # user ids: the identities' column
MAX_EVENT_KEY = 200  # "platform:event_id": the events' column
MAX_NAME = 100  # display names and handles
MAX_LOCALE = 16
MAX_TEXT = 2000  # a product reference (a URL), an argument, a reply target's channel or extra


def bounded_id(value: str, limit: int = MAX_ID) -> str:
    """An id that fits `limit`: a longer one keeps its start and gains a digest of the whole, so
    two long ids never become one (cutting alone would merge two people)."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return f"{value[: limit - len(digest) - 1]}~{digest}"


def _cut(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else value[:limit]


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(
        {str(k)[:MAX_NAME]: str(v)[:MAX_TEXT] for k, v in (mapping or {}).items()}
    )


@dataclass(frozen=True, slots=True)
class ProductRef:
    """A product named by a store and the store's own id for it (an ASIN for Amazon)."""

    store: str
    sku: str
    url: str | None = None

    @property
    def product_id(self) -> str:
        return f"{self.store}:{self.sku}"

    @classmethod
    def parse(cls, product_id: str) -> ProductRef:
        store, sep, sku = product_id.partition(":")
        if not sep or not store or not sku:
            raise ValueError(f"product id {product_id!r} is not of the form store:sku")
        return cls(store, sku)


@dataclass(frozen=True, slots=True)
class Product:
    """A product as the catalog knows it; prices are whole cents to keep totals exact.

    `fetched_at` (epoch seconds) is when a live source was asked, so an old price can be shown as
    such; the operator's products have none.
    """

    ref: ProductRef
    title: str
    price_cents: int
    currency: str = "USD"
    available: bool = True
    image_url: str | None = None
    fetched_at: float | None = None

    @property
    def product_id(self) -> str:
        return self.ref.product_id


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """Where the one answer to a command goes.

    `channel` is the public place (a tweet, a Slack `response_url`, a Discord channel); `user` the
    platform user id, for a direct message. `private` is set by a platform that demands a private
    answer (a protected X account), or by the core from the account's privacy choice. `extra`
    holds strings the send hook needs: `extra["order_key"]` replaces `user` as what answers are
    kept in order by, and answers queued together sharing `extra["reply_group"]` go as one message.
    """

    platform: str
    user: str
    channel: str | None = None
    private: bool = False
    extra: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "user", bounded_id(self.user))
        object.__setattr__(self, "channel", _cut(self.channel, MAX_TEXT))
        object.__setattr__(self, "extra", _frozen(self.extra))

    def to_json(self) -> dict[str, Any]:
        plain = {name: getattr(self, name) for name in (f.name for f in fields(self))}
        return {**plain, "extra": dict(self.extra)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReplyTarget:
        return cls(
            platform=str(data["platform"]),
            user=str(data["user"]),
            channel=data.get("channel"),
            private=bool(data.get("private", False)),
            extra=dict(data.get("extra") or {}),
        )


#: How long a state key may be (the column holding it).
MAX_STATE_KEY = 200


@dataclass(frozen=True, slots=True)
class StateChange:
    """A standing state a command sets, for platform events that are states (a reaction, whose
    effect stands while it does), not occurrences.

    The command is applied only when the state under `key` changes (every key starts absent);
    otherwise it is an unanswered duplicate. So a replay does nothing, and taking something back
    then doing it again counts again.
    """

    key: str
    present: bool

    def __post_init__(self) -> None:
        if not self.key or len(self.key) > MAX_STATE_KEY:
            raise ValueError(f"a state key has 1 to {MAX_STATE_KEY} characters")


@dataclass(frozen=True, slots=True)
class CartCommand:
    """One request from one platform user, identified by the platform's own event id.

    `reference` is the raw reference the user gave (a URL or a barcode), resolved by the core
    unless the plugin set `product`; `argument` is a sub-argument (`on`/`off` for `privacy`).
    `state` makes the command apply once per change of that state, not once per event id.
    """

    platform: str
    user_id: str
    action: Action
    event_id: str
    reply_to: ReplyTarget
    product: ProductRef | None = None
    reference: str | None = None
    quantity: int = 1
    argument: str | None = None
    user_name: str | None = None
    locale: str | None = None
    is_bot: bool = False
    state: StateChange | None = None

    def __post_init__(self) -> None:
        if not self.platform or not self.user_id or not self.event_id:
            raise ValueError("a command needs a platform, a user id and an event id")
        if self.quantity < 1:
            raise ValueError("quantity must be at least 1")
        if len(self.platform) > 32:
            raise ValueError("a platform name has at most 32 characters")
        object.__setattr__(self, "action", Action(self.action))
        object.__setattr__(self, "user_id", bounded_id(self.user_id))
        room = MAX_EVENT_KEY - len(self.platform) - 1
        object.__setattr__(self, "event_id", bounded_id(self.event_id, room))
        object.__setattr__(self, "reference", _cut(self.reference, MAX_TEXT))
        object.__setattr__(self, "argument", _cut(self.argument, MAX_TEXT))
        object.__setattr__(self, "user_name", _cut(self.user_name, MAX_NAME))
        object.__setattr__(self, "locale", _cut(self.locale, MAX_LOCALE))

    @property
    def event_key(self) -> str:
        """The key under which the command is recorded once and for all."""
        return f"{self.platform}:{self.event_id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "user_id": self.user_id,
            "action": self.action.value,
            "event_id": self.event_id,
            "reply_to": self.reply_to.to_json(),
            "product": self.product.product_id if self.product else None,
            "product_url": self.product.url if self.product else None,
            "reference": self.reference,
            "quantity": self.quantity,
            "argument": self.argument,
            "user_name": self.user_name,
            "locale": self.locale,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CartCommand:
        product = data.get("product")
        return cls(
            platform=data["platform"],
            user_id=data["user_id"],
            action=Action(data["action"]),
            event_id=data["event_id"],
            reply_to=ReplyTarget.from_json(data["reply_to"]),
            product=replace(ProductRef.parse(product), url=data.get("product_url"))
            if product
            else None,
            reference=data.get("reference"),
            quantity=int(data.get("quantity", 1)),
            argument=data.get("argument"),
            user_name=data.get("user_name"),
            locale=data.get("locale"),
        )


class OutcomeCode(enum.StrEnum):
    """What happened to a command. Each code has one message id in the catalogs (`reply.<code>`)."""

    ADDED = "added"
    INCREASED = "increased"
    REMOVED = "removed"
    DECREASED = "decreased"
    NOT_IN_CART = "not_in_cart"
    LISTED = "listed"
    CART_EMPTY = "cart_empty"
    CLEARED = "cleared"
    LINK_NEEDED = "link_needed"
    LINK_SENT = "link_sent"
    UNLINKED = "unlinked"
    NOT_LINKED = "not_linked"
    HELP = "help"
    PRIVACY_ON = "privacy_on"
    PRIVACY_OFF = "privacy_off"
    PENDING_APPLIED = "pending_applied"
    NOT_A_PRODUCT = "not_a_product"
    NO_PRODUCT_GIVEN = "no_product_given"
    UNKNOWN_PRODUCT = "unknown_product"
    UNAVAILABLE = "unavailable"
    STORE_REFUSED = "store_refused"
    RATE_LIMITED = "rate_limited"
    COOLING_DOWN = "cooling_down"
    STORE_DENIED = "store_denied"
    DENIED = "denied"
    INVALID_BARCODE = "invalid_barcode"
    CONFIRM_ADD = "confirm_add"
    CHECKOUT_ASKED = "checkout_asked"
    ORDER_PLACED = "order_placed"
    ORDER_PENDING = "order_pending"
    ORDER_REFUSED = "order_refused"
    CART_CHANGED = "cart_changed"
    CONFIRM_EXPIRED = "confirm_expired"
    FORGET_ASKED = "forget_asked"
    FORGOTTEN = "forgotten"
    NOTHING_TO_CONFIRM = "nothing_to_confirm"
    NOT_SUPPORTED = "not_supported"
    CHECKOUT_HANDOFF = "checkout_handoff"
    PRICES_CHANGED = "prices_changed"
    LANGUAGE_SET = "language_set"
    LANGUAGE_CLEARED = "language_cleared"
    LANGUAGE_UNKNOWN = "language_unknown"
    DUPLICATE = "duplicate"
    FAILED = "failed"


#: Outcomes that mean the cart or account changed as asked.
SUCCESS_CODES = frozenset(
    {
        OutcomeCode.ADDED,
        OutcomeCode.INCREASED,
        OutcomeCode.REMOVED,
        OutcomeCode.DECREASED,
        OutcomeCode.LISTED,
        OutcomeCode.CART_EMPTY,
        OutcomeCode.CLEARED,
        OutcomeCode.LINK_SENT,
        OutcomeCode.UNLINKED,
        OutcomeCode.HELP,
        OutcomeCode.PRIVACY_ON,
        OutcomeCode.PRIVACY_OFF,
        OutcomeCode.PENDING_APPLIED,
        OutcomeCode.FORGET_ASKED,
        OutcomeCode.FORGOTTEN,
        OutcomeCode.CONFIRM_ADD,
        OutcomeCode.CHECKOUT_ASKED,
        OutcomeCode.ORDER_PLACED,
        OutcomeCode.ORDER_PENDING,
        OutcomeCode.CHECKOUT_HANDOFF,
    }
)


@dataclass(frozen=True, slots=True)
class CartLine:
    """One line of a cart. `url` is the product's page when known: a hand-off to the store's
    cart groups lines by its host (for Amazon, the marketplace a line was priced on)."""

    product_id: str
    title: str
    quantity: int
    price_cents: int
    currency: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one command: a code, the values its sentence needs, and whether to answer.

    `silent` outcomes (a duplicate, a denied bot, a repeated rate-limit refusal) send nothing.
    """

    code: OutcomeCode
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    silent: bool = False
    cart: tuple[CartLine, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def ok(self) -> bool:
        return self.code in SUCCESS_CODES

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code.value,
            "params": dict(self.params),
            "silent": self.silent,
            "cart": [
                {name: v for name, v in asdict(line).items() if v is not None or name != "url"}
                for line in self.cart
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outcome:
        return cls(
            code=OutcomeCode(data["code"]),
            params=data.get("params") or {},
            silent=bool(data.get("silent", False)),
            cart=tuple(CartLine(**line) for line in data.get("cart") or ()),
        )


@dataclass(frozen=True, slots=True)
class Order:
    """A confirmed checkout: the lines and prices as they were when the user confirmed.

    `order_id` is the same on every try (`attempt` counts from 1): as the shop's idempotency key
    it makes a retry after a crash or a time-out find the first try's order, not make a second.
    """

    order_id: str
    account_id: str
    lines: tuple[CartLine, ...]
    total_cents: int
    currency: str
    attempt: int = 1

    @property
    def idempotency_key(self) -> str:
        return self.order_id
