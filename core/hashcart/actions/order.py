"""A confirmed checkout becomes a pending order."""

import uuid

from hashcart.actions.base import Context
from hashcart.actions.listing import listing
from hashcart.commands import Outcome, OutcomeCode
from hashcart.handoff import totals
from hashcart.pipeline.carts import Cart


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
