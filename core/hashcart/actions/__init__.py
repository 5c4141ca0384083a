"""What each action does to an account and its cart: one handler per `hashcart.Action`.

A handler registers with `handles`, naming the outcome codes it can give. Adding a subcommand
is one handler here, its reply texts in the catalogs, and a line in each platform's parser and
`Platform.commands`.
"""

from typing import Any

from hashcart.actions import add, confirm, listing  # noqa: F401  (importing registers)
from hashcart.actions.account import link_url
from hashcart.actions.base import HANDLERS, Context, Handler, handles
from hashcart.commands import Outcome, OutcomeCode
from hashcart.pipeline.policy import Policy

__all__ = ["HANDLERS", "Context", "Handler", "decide", "handles"]


async def decide(ctx: Context) -> Outcome:
    """Decides one command: the policy plugins first, then its action's handler."""
    item, account, hashcart = ctx.item, ctx.account, ctx.hashcart
    policy = Policy(ctx.statements, ctx.group.conn, account.id if account else None, ctx.now, item)
    refusal: Outcome | None = await hashcart.plugins.first(
        "hashcart_check_command", command=item.command, context=policy, hashcart=hashcart
    )
    if refusal is not None:
        return refusal
    if item.early is not None:
        return item.early
    handler = HANDLERS.get(item.command.action)
    if account is None and (handler is None or handler.needs_account):
        params: dict[str, Any] = {"link_url": link_url(ctx)}
        if handler is not None and handler.unlinked is not None:
            handler.unlinked(ctx, params)
        return Outcome(OutcomeCode.LINK_NEEDED, params)
    if handler is None:
        return Outcome(OutcomeCode.NOT_SUPPORTED, {"action": item.command.action.value})
    return await handler.run(ctx)
