"""`clear`: empties the cart."""

from hashcart.actions.base import Context, handles
from hashcart.commands import Action, Outcome, OutcomeCode


@handles(Action.CLEAR, OutcomeCode.CLEARED)
async def clear(ctx: Context) -> Outcome:
    ctx.cart.clear()
    return Outcome(OutcomeCode.CLEARED)
