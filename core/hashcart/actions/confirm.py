"""`confirm`: applies what waits for confirmation (a large add, a checkout), once: the second
`confirm` finds nothing."""

from hashcart.actions.add import add_line
from hashcart.actions.base import Context, handles
from hashcart.actions.listing import listing
from hashcart.actions.order import place_order
from hashcart.commands import Action, CartCommand, Outcome, OutcomeCode, Product
from hashcart.i18n import money
from hashcart.pipeline.carts import Cart, fingerprint
from hashcart.pipeline.group import CONFIRM
from hashcart.pipeline.prepared import Prepared


@handles(
    Action.CONFIRM,
    OutcomeCode.NOTHING_TO_CONFIRM, OutcomeCode.CONFIRM_EXPIRED, OutcomeCode.CART_CHANGED,
    OutcomeCode.PRICES_CHANGED, OutcomeCode.ORDER_PENDING,
    OutcomeCode.ADDED, OutcomeCode.INCREASED,
)  # fmt: skip
async def confirm(ctx: Context) -> Outcome:
    group, account, cart = ctx.group, ctx.linked, ctx.cart
    if account.id in group.confirmations:
        waiting = group.confirmations[account.id]
    else:
        row = (
            await group.conn.execute(
                ctx.statements.kv_get, {"namespace": CONFIRM, "key": account.id}
            )
        ).first()
        waiting = (row.value, row.expires_at) if row is not None else None
    if waiting is None:
        return Outcome(OutcomeCode.NOTHING_TO_CONFIRM)
    group.confirmations[account.id] = None
    value, expires = waiting
    if expires < ctx.now:
        return Outcome(OutcomeCode.CONFIRM_EXPIRED)
    if value["kind"] == "add":
        asked = CartCommand.from_json(value["command"])
        # A large add asked for before images were kept has three values, not five.
        title, price_cents, currency, *seen = value["product"]
        image_url, fetched_at = [*seen, None, None][:2]
        assert asked.product is not None
        product = Product(
            asked.product, title, price_cents, currency,
            image_url=image_url, fetched_at=fetched_at,
        )  # fmt: skip
        return add_line(ctx, cart, Prepared(asked, product=product))
    if fingerprint(cart) != value["cart"]:
        return Outcome(OutcomeCode.CART_CHANGED)
    repriced = await _reprice(ctx, cart)
    if repriced is not None:
        return repriced
    return await place_order(ctx, cart)


async def _reprice(ctx: Context, cart: Cart) -> Outcome | None:
    """A checkout is confirmed at today's prices: a changed price or a product gone out of
    stock updates the cart and asks again instead of ordering."""
    fresh = ctx.item.fresh
    if not fresh:
        return None
    locale = ctx.locale
    changes: list[str] = []
    for product_id, line in list(cart.items()):
        if product_id not in fresh:
            continue
        product = fresh[product_id]
        if product is None or not product.available:
            del cart[product_id]
            changes.append(ctx.hashcart.translate(locale, "reply.gone", title=line.title))
            continue
        if (product.price_cents, product.currency) != (line.price_cents, line.currency):
            before = money(line.price_cents, line.currency, locale)
            after = money(product.price_cents, product.currency, locale)
            changes.append(f"{line.title}: {before} → {after}")
            line.price_cents, line.currency = product.price_cents, product.currency
            line.priced_at = product.fetched_at
    if not changes:
        return None
    if not cart:
        return Outcome(OutcomeCode.CART_CHANGED, {"changes": "; ".join(changes)})
    shown = await listing(ctx, cart)
    waiting = {"kind": "checkout", "cart": fingerprint(cart)}
    ctx.group.confirmations[ctx.linked.id] = (waiting, ctx.now + ctx.token_seconds)
    return Outcome(
        OutcomeCode.PRICES_CHANGED,
        {**shown.params, "changes": "; ".join(changes)},
        cart=shown.cart,
    )
