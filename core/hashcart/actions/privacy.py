"""`privacy on|off`: answers by direct message only, or where asked; without an argument it
says which holds."""

from hashcart.actions.base import Context, handles
from hashcart.commands import Action, Outcome, OutcomeCode


@handles(Action.PRIVACY, OutcomeCode.PRIVACY_ON, OutcomeCode.PRIVACY_OFF)
async def privacy(ctx: Context) -> Outcome:
    account = ctx.linked
    wanted = (ctx.command.argument or "").strip().lower()
    if wanted in ("on", "off"):
        account.dm_only = wanted == "on"
        ctx.group.privacy[account.id] = account.dm_only
    return Outcome(OutcomeCode.PRIVACY_ON if account.dm_only else OutcomeCode.PRIVACY_OFF)
