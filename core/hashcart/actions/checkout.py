"""`checkout`: shows the cart and asks for `confirm`, or hands it to the stores' own carts when
no plugin places orders."""

from hashcart.actions.base import Context, handles
from hashcart.actions.listing import listing
from hashcart.commands import Action, Outcome, OutcomeCode
from hashcart.pipeline.carts import fingerprint


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
