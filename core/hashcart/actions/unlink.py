"""`unlink`: this identity leaves its account; answered also when it has none."""

from hashcart.actions.base import Context, handles
from hashcart.commands import Action, Outcome, OutcomeCode


@handles(Action.UNLINK, OutcomeCode.UNLINKED, OutcomeCode.NOT_LINKED, needs_account=False)
async def unlink(ctx: Context) -> Outcome:
    command = ctx.command
    if ctx.account is None:
        return Outcome(OutcomeCode.NOT_LINKED)
    ctx.group.unlinked.append({"b_platform": command.platform, "b_user_id": command.user_id})
    ctx.group.known.pop((command.platform, command.user_id), None)
    return Outcome(OutcomeCode.UNLINKED, {"platform": command.platform})
