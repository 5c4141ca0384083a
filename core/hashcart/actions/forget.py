"""`forget` asks first; `forget confirm` within the window erases the account."""

from hashcart.actions.base import Context, handles
from hashcart.commands import Action, Outcome, OutcomeCode
from hashcart.pipeline.group import FORGET


@handles(
    Action.FORGET,
    OutcomeCode.FORGET_ASKED, OutcomeCode.FORGOTTEN, OutcomeCode.NOTHING_TO_CONFIRM,
)  # fmt: skip
async def forget(ctx: Context) -> Outcome:
    group, account = ctx.group, ctx.linked
    cart = ctx.cart
    if (ctx.command.argument or "").strip().lower() != "confirm":
        group.forget_asked[account.id] = ctx.now + ctx.token_seconds
        return Outcome(OutcomeCode.FORGET_ASKED)
    asked = group.forget_asked.get(account.id) or await group.conn.scalar(
        ctx.statements.kv_expiry, {"namespace": FORGET, "key": account.id}
    )
    if not asked or asked < ctx.now:
        return Outcome(OutcomeCode.NOTHING_TO_CONFIRM)
    group.forget_asked.pop(account.id, None)
    group.forgotten.append(account.id)
    cart.clear()
    for key, known in list(group.known.items()):
        if known.id == account.id:
            del group.known[key]
    return Outcome(OutcomeCode.FORGOTTEN)
