"""Deciding one command: the policy plugins first, then its action's handler."""

from typing import Any

from hashcart.actions.base import HANDLERS, Context
from hashcart.actions.link import link_url
from hashcart.commands import Outcome, OutcomeCode
from hashcart.pipeline.policy import Policy


async def decide(ctx: Context) -> Outcome:
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
