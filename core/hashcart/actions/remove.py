"""`remove <link> [quantity]`: fewer of a product, or none; `clear`: none of any."""

from hashcart.actions.base import Context, handles
from hashcart.commands import Action, Outcome, OutcomeCode


@handles(
    Action.REMOVE,
    OutcomeCode.REMOVED, OutcomeCode.DECREASED, OutcomeCode.NOT_IN_CART, OutcomeCode.NOT_SUPPORTED,
)  # fmt: skip
async def remove(ctx: Context) -> Outcome:
    command, cart = ctx.command, ctx.cart
    if command.product is None:
        return Outcome(OutcomeCode.NOT_SUPPORTED, {"action": command.action.value})
    product_id = command.product.product_id
    line = cart.get(product_id)
    if line is None:
        return Outcome(OutcomeCode.NOT_IN_CART, {"title": product_id, "product_id": product_id})
    line.quantity -= command.quantity
    params = {"title": line.title, "product_id": product_id, "quantity": max(line.quantity, 0)}
    if line.quantity <= 0:
        del cart[product_id]
        return Outcome(OutcomeCode.REMOVED, params)
    return Outcome(OutcomeCode.DECREASED, params)


@handles(Action.CLEAR, OutcomeCode.CLEARED)
async def clear(ctx: Context) -> Outcome:
    ctx.cart.clear()
    return Outcome(OutcomeCode.CLEARED)
