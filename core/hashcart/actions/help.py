"""`help`: how to use the bot; needs no linked account."""

from hashcart.actions.base import Context, handles
from hashcart.commands import Action, Outcome, OutcomeCode


@handles(Action.HELP, OutcomeCode.HELP, needs_account=False)
async def show_help(ctx: Context) -> Outcome:
    return Outcome(OutcomeCode.HELP, {"hashtag": ctx.hashcart.settings.hashtag})
