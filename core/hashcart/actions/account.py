"""The actions about the person rather than the cart: `help`, `link`, `unlink`, `privacy`,
`language` and `forget`."""

import secrets

from hashcart.account_language import chosen_language, language_name, offered_text
from hashcart.actions.base import Context, handles
from hashcart.commands import Action, Outcome, OutcomeCode
from hashcart.pipeline.group import FORGET


@handles(Action.HELP, OutcomeCode.HELP, needs_account=False)
async def show_help(ctx: Context) -> Outcome:
    return Outcome(OutcomeCode.HELP, {"hashtag": ctx.hashcart.settings.hashtag})


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


@handles(Action.UNLINK, OutcomeCode.UNLINKED, OutcomeCode.NOT_LINKED, needs_account=False)
async def unlink(ctx: Context) -> Outcome:
    """This identity leaves its account; answered also when it has none."""
    command = ctx.command
    if ctx.account is None:
        return Outcome(OutcomeCode.NOT_LINKED)
    ctx.group.unlinked.append({"b_platform": command.platform, "b_user_id": command.user_id})
    ctx.group.known.pop((command.platform, command.user_id), None)
    return Outcome(OutcomeCode.UNLINKED, {"platform": command.platform})


@handles(Action.PRIVACY, OutcomeCode.PRIVACY_ON, OutcomeCode.PRIVACY_OFF)
async def privacy(ctx: Context) -> Outcome:
    """`privacy on|off`: answers by direct message only, or where asked; without an argument
    it says which holds."""
    account = ctx.linked
    wanted = (ctx.command.argument or "").strip().lower()
    if wanted in ("on", "off"):
        account.dm_only = wanted == "on"
        ctx.group.privacy[account.id] = account.dm_only
    return Outcome(OutcomeCode.PRIVACY_ON if account.dm_only else OutcomeCode.PRIVACY_OFF)


@handles(
    Action.LANGUAGE,
    OutcomeCode.LANGUAGE_SET, OutcomeCode.LANGUAGE_CLEARED, OutcomeCode.LANGUAGE_UNKNOWN,
)  # fmt: skip
async def language(ctx: Context) -> Outcome:
    """`language <code>`: the account's answers in that language, whatever the platform
    reports; `language` alone or `language auto` gives the platform's locale back."""
    account = ctx.linked
    asked = (ctx.command.argument or "").strip()
    chosen = chosen_language(asked)
    if chosen is None:
        return Outcome(
            OutcomeCode.LANGUAGE_UNKNOWN, {"language": asked[:35], "languages": offered_text()}
        )
    account.language = chosen or None
    ctx.group.languages[account.id] = account.language
    if account.language is None:
        return Outcome(OutcomeCode.LANGUAGE_CLEARED)
    return Outcome(
        OutcomeCode.LANGUAGE_SET,
        {"language": account.language, "language_name": language_name(account.language)},
    )


@handles(
    Action.FORGET,
    OutcomeCode.FORGET_ASKED, OutcomeCode.FORGOTTEN, OutcomeCode.NOTHING_TO_CONFIRM,
)  # fmt: skip
async def forget(ctx: Context) -> Outcome:
    """`forget` asks first; `forget confirm` within the window erases the account."""
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
