"""`link`: where this identity is joined to an account; needs no linked account."""

import secrets

from hashcart.actions.base import Context, handles
from hashcart.commands import Action, Outcome, OutcomeCode


@handles(Action.LINK, OutcomeCode.LINK_SENT, needs_account=False)
async def send_link(ctx: Context) -> Outcome:
    return Outcome(OutcomeCode.LINK_SENT, {"link_url": link_url(ctx)})


def link_url(ctx: Context) -> str:
    """Where the asker links this identity: a one-time token only in a private answer.

    Whoever opens a token first links the identity to their own cart, so a token in a public
    thread hands the asker's later adds to any reader. A public answer points to the page
    where the person proves who they are by signing in with the platform instead. Private
    means what the answer's row makes of it: the plugin's `ReplyTarget.private` or the
    account's DM-only choice.
    """
    command, account = ctx.command, ctx.account
    public_url = ctx.hashcart.settings.public_url
    if command.reply_to.private or (account is not None and account.dm_only):
        token = secrets.token_urlsafe(24)
        ctx.group.tokens.append(
            {
                "token": token,
                "platform": command.platform,
                "user_id": command.user_id,
                "user_name": command.user_name,
                "created_at": ctx.now,
                "expires_at": ctx.now + ctx.token_seconds,
                "used_at": None,
            }
        )
        return f"{public_url}/link/{token}"
    return f"{public_url}/link/{command.platform}"
