"""`add <link> [quantity]`: more of a product; a large add waits for `confirm`, and one from
someone without an account waits for their link. `remove <link> [quantity]`: fewer of it, or
none; `clear`: none of any."""

from typing import Any

from hashcart.actions.base import Context, handles
from hashcart.commands import Action, Outcome, OutcomeCode
from hashcart.i18n import money
from hashcart.pipeline.carts import Cart, Line
from hashcart.pipeline.prepared import Prepared


def park_until_linked(ctx: Context, params: dict[str, Any]) -> None:
    """Kept as a pending command, applied when the identity is linked within the token's life."""
    command, product = ctx.command, ctx.item.product
    if product is None:
        return
    params["title"] = product.title
    ctx.group.pending.append(
        {
            "platform": command.platform,
            "user_id": command.user_id,
            "command": command.to_json(),
            "created_at": ctx.now,
            "expires_at": ctx.now + ctx.token_seconds,
        }
    )


@handles(
    Action.ADD,
    OutcomeCode.ADDED, OutcomeCode.INCREASED, OutcomeCode.PENDING_APPLIED,
    OutcomeCode.CONFIRM_ADD, OutcomeCode.NOT_SUPPORTED,
    unlinked=park_until_linked,
)  # fmt: skip
async def add(ctx: Context) -> Outcome:
    item = ctx.item
    if item.product is None:
        return Outcome(OutcomeCode.NOT_SUPPORTED, {"action": item.command.action.value})
    if not item.after_link and _too_large(ctx):
        return _ask_first(ctx)
    return add_line(ctx, ctx.cart, item)


def add_line(ctx: Context, cart: Cart, item: Prepared) -> Outcome:
    product, command = item.product, item.command
    assert product is not None
    line = cart.get(product.product_id)
    if line is None:
        line = cart[product.product_id] = Line(
            product.title, product.price_cents, product.currency, 0, command.platform, ctx.now
        )
    line.quantity += command.quantity
    line.title, line.price_cents, line.currency = (
        product.title, product.price_cents, product.currency,
    )  # fmt: skip
    line.url = product.ref.url or (command.product.url if command.product else None)
    line.image_url, line.priced_at = product.image_url, product.fetched_at
    params = {
        "title": product.title,
        "product_id": product.product_id,
        "quantity": line.quantity,
        "added": command.quantity,
        "cart_url": ctx.hashcart.cart_url,
    }
    if item.after_link:
        return Outcome(OutcomeCode.PENDING_APPLIED, params)
    code = OutcomeCode.ADDED if line.quantity == command.quantity else OutcomeCode.INCREASED
    return Outcome(code, params)


def _too_large(ctx: Context) -> bool:
    settings, product, quantity = ctx.hashcart.settings, ctx.item.product, ctx.command.quantity
    assert product is not None
    cents = quantity * product.price_cents
    return quantity > settings.confirm_over_quantity or cents > settings.confirm_over_cents


def _ask_first(ctx: Context) -> Outcome:
    """A large add waits for `confirm` instead of changing the cart."""
    item, account = ctx.item, ctx.linked
    product = item.product
    assert product is not None
    waiting = {
        "kind": "add",
        "command": item.command.to_json(),
        "product": [
            product.title, product.price_cents, product.currency, product.image_url,
            product.fetched_at,
        ],
    }  # fmt: skip
    ctx.group.confirmations[account.id] = (waiting, ctx.now + ctx.token_seconds)
    total = product.price_cents * item.command.quantity
    return Outcome(
        OutcomeCode.CONFIRM_ADD,
        {
            "title": product.title,
            "product_id": product.product_id,
            "quantity": item.command.quantity,
            "total": money(total, product.currency, ctx.locale),
        },
    )


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
