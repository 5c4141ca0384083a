"""`list`: the cart as an answer, also what `checkout` and `confirm` show; `checkout`: shows the
cart and asks for `confirm`, or hands it to the stores' own carts when no plugin places orders."""

from typing import Any

from hashcart.actions.base import Context, handles
from hashcart.commands import Action, CartLine, Outcome, OutcomeCode
from hashcart.handoff import handoffs, line_texts, money_totals, totals
from hashcart.pipeline.carts import Cart, fingerprint


@handles(Action.LIST, OutcomeCode.LISTED, OutcomeCode.CART_EMPTY)
async def show_list(ctx: Context) -> Outcome:
    return await listing(ctx, ctx.cart)


async def listing(ctx: Context, cart: Cart) -> Outcome:
    """Its lines, a total per currency (`total_cents` only when there is one currency) and the
    hand-off to every store that can take its lines."""
    if not cart:
        return Outcome(OutcomeCode.CART_EMPTY)
    hashcart = ctx.hashcart
    ordered = sorted(cart.items(), key=lambda pair: (pair[1].added_at, pair[0]))
    lines = [
        CartLine(product_id, line.title, line.quantity, line.price_cents, line.currency, line.url)
        for product_id, line in ordered
    ]
    locale = ctx.locale
    sums = totals(lines)
    stores = await handoffs(hashcart, lines)
    params: dict[str, Any] = {
        "lines": ", ".join(line_texts(lines)),
        "total": money_totals(lines, locale),
        "totals": [{"currency": currency, "cents": cents} for currency, cents in sums],
        "count": sum(line.quantity for line in lines),
        "cart_url": hashcart.cart_url,
        "handoffs": [store.to_json() for store in stores],
        "handoff": "".join(
            " " + hashcart.translate(locale, "reply.handoff", label=s.label, url=s.url)
            for s in stores
        ),
    }
    if len(sums) == 1:
        params["total_cents"] = sums[0][1]
    return Outcome(OutcomeCode.LISTED, params, cart=tuple(lines))


@handles(
    Action.CHECKOUT,
    OutcomeCode.CHECKOUT_ASKED, OutcomeCode.CHECKOUT_HANDOFF, OutcomeCode.CART_EMPTY,
)  # fmt: skip
async def checkout(ctx: Context) -> Outcome:
    cart = ctx.cart
    shown = await listing(ctx, cart)
    if shown.code is OutcomeCode.CART_EMPTY:
        return shown
    if shown.params["handoffs"] and not ctx.hashcart.plugins.implemented("hashcart_place_order"):
        # No plugin places orders: the stores' own carts are where this cart is paid.
        return Outcome(OutcomeCode.CHECKOUT_HANDOFF, shown.params, cart=shown.cart)
    waiting = {"kind": "checkout", "cart": fingerprint(cart)}
    ctx.group.confirmations[ctx.linked.id] = (waiting, ctx.now + ctx.token_seconds)
    return Outcome(OutcomeCode.CHECKOUT_ASKED, shown.params, cart=shown.cart)
