"""`confirm`: applies what waits for confirmation (a large add, a checkout), once: the second
`confirm` finds nothing. A confirmed checkout becomes a pending order."""

import uuid

from hashcart.actions.add import add_line
from hashcart.actions.base import Context, handles
from hashcart.actions.listing import listing
from hashcart.commands import Action, CartCommand, Outcome, OutcomeCode, Product
from hashcart.handoff import totals
from hashcart.i18n import money
from hashcart.pipeline.carts import Cart, fingerprint
from hashcart.pipeline.group import CONFIRM
from hashcart.pipeline.prepared import Prepared


@handles(
    Action.CONFIRM,
    OutcomeCode.NOTHING_TO_CONFIRM, OutcomeCode.CONFIRM_EXPIRED, OutcomeCode.CART_CHANGED,
    OutcomeCode.PRICES_CHANGED, OutcomeCode.ORDER_PENDING,
    OutcomeCode.ADDED, OutcomeCode.INCREASED,
)  # fmt: skip
async def confirm(ctx: Context) -> Outcome:
    group, account, cart = ctx.group, ctx.linked, ctx.cart
    if account.id in group.confirmations:
        waiting = group.confirmations[account.id]
    else:
        row = (
            await group.conn.execute(
                ctx.statements.kv_get, {"namespace": CONFIRM, "key": account.id}
            )
        ).first()
        waiting = (row.value, row.expires_at) if row is not None else None
    if waiting is None:
        return Outcome(OutcomeCode.NOTHING_TO_CONFIRM)
    group.confirmations[account.id] = None
    value, expires = waiting
    if expires < ctx.now:
        return Outcome(OutcomeCode.CONFIRM_EXPIRED)
    if value["kind"] == "add":
        asked = CartCommand.from_json(value["command"])
        # A large add asked for before images were kept has three values, not five.
        title, price_cents, currency, *seen = value["product"]
        image_url, fetched_at = [*seen, None, None][:2]
        assert asked.product is not None
        product = Product(
            asked.product, title, price_cents, currency,
            image_url=image_url, fetched_at=fetched_at,
        )  # fmt: skip
        return add_line(ctx, cart, Prepared(asked, product=product))
    if fingerprint(cart) != value["cart"]:
        return Outcome(OutcomeCode.CART_CHANGED)
    repriced = await _reprice(ctx, cart)
    if repriced is not None:
        return repriced
    return await place_order(ctx, cart)


async def _reprice(ctx: Context, cart: Cart) -> Outcome | None:
    """A checkout is confirmed at today's prices: a changed price or a product gone out of
    stock updates the cart and asks again instead of ordering."""
    fresh = ctx.item.fresh
    if not fresh:
        return None
    locale = ctx.locale
    changes: list[str] = []
    for product_id, line in list(cart.items()):
        if product_id not in fresh:
            continue
        product = fresh[product_id]
        if product is None or not product.available:
            del cart[product_id]
            changes.append(ctx.hashcart.translate(locale, "reply.gone", title=line.title))
            continue
        if (product.price_cents, product.currency) != (line.price_cents, line.currency):
            before = money(line.price_cents, line.currency, locale)
            after = money(product.price_cents, product.currency, locale)
            changes.append(f"{line.title}: {before} → {after}")
            line.price_cents, line.currency = product.price_cents, product.currency
            line.priced_at = product.fetched_at
    if not changes:
        return None
    if not cart:
        return Outcome(OutcomeCode.CART_CHANGED, {"changes": "; ".join(changes)})
    shown = await listing(ctx, cart)
    waiting = {"kind": "checkout", "cart": fingerprint(cart)}
    ctx.group.confirmations[ctx.linked.id] = (waiting, ctx.now + ctx.token_seconds)
    return Outcome(
        OutcomeCode.PRICES_CHANGED,
        {**shown.params, "changes": "; ".join(changes)},
        cart=shown.cart,
    )


async def place_order(ctx: Context, cart: Cart) -> Outcome:
    """Records the order as pending and empties the cart; nothing is asked of the shop here.

    The shop's call is a network call that must not hold this transaction (nor SQLite's one
    writer): `hashcart.orders.OrderPlacer` makes it afterwards, retries it through an outage,
    and answers the confirmation once, when the order is placed or refused. The cart is
    emptied now so that a second checkout cannot order the same lines again while this one
    is pending; a refused order puts its lines back.
    """
    command, now = ctx.command, ctx.now
    shown = await listing(ctx, cart)
    order_id = uuid.uuid4().hex
    # A cart in two currencies has no one total: the order's is that of its first currency.
    currency, total_cents = totals(shown.cart)[0]
    ctx.group.orders.append(
        {
            "id": order_id,
            "account_id": ctx.linked.id,
            "items": [
                {
                    "product_id": line.product_id,
                    "title": line.title,
                    "quantity": line.quantity,
                    "price_cents": line.price_cents,
                    "currency": line.currency,
                }
                for line in shown.cart
            ],
            "total_cents": total_cents,
            "currency": currency,
            "store_reference": None,
            "event_key": command.event_key,
            "created_at": now,
            "status": "pending",
            "command": command.to_json(),
            "attempts": 0,
            "next_attempt_at": now,
            "lease_until": None,
            "last_error": None,
            "settled_at": None,
        }
    )
    cart.clear()
    # Silent: the one answer to this confirmation is queued when the shop has decided.
    return Outcome(
        OutcomeCode.ORDER_PENDING,
        {
            "order_id": order_id,
            "total": shown.params["total"],
            "total_cents": total_cents,
            "count": shown.params["count"],
        },
        silent=True,
        cart=shown.cart,
    )
