"""Forgetting an account: its personal data goes, the anonymous counts and event ids stay."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hashcart.store.schema import (
    accounts,
    cart_items,
    events,
    identities,
    link_tokens,
    outbox,
    pending_commands,
    rate_counters,
    web_signin_limits,
)


async def erase_account(conn: AsyncConnection, account_id: str) -> None:
    """Remove an account's personal data inside the caller's transaction.

    Event ids stay (with the person taken out) so a redelivered old event is still recognised and
    changes nothing; only anonymous counts remain.
    """
    linked = list(
        await conn.execute(
            sa.select(identities.c.platform, identities.c.user_id).where(
                identities.c.account_id == account_id
            )
        )
    )
    counters = [rate_counters.c.key.startswith(f"account:{account_id}:", autoescape=True)]
    for platform, user_id in linked:
        identity = f"{platform}:{user_id}"
        counters.append(rate_counters.c.key.startswith(f"identity:{identity}:", autoescape=True))
        counters.append(rate_counters.c.key == f"rejects:{identity}")
        for table in (pending_commands, link_tokens):
            await conn.execute(
                sa.delete(table).where(table.c.platform == platform, table.c.user_id == user_id)
            )
        await conn.execute(
            sa.update(events)
            .where(events.c.platform == platform, events.c.user_id == user_id)
            .values(user_id=None, detail=None, account_id=None)
        )
        await conn.execute(
            sa.update(outbox)
            .where(outbox.c.platform == platform, outbox.c.recipient == user_id)
            .where(outbox.c.status != "pending")
            .values(text="", recipient="", target={}, extra={}, outcome={})
        )
    await conn.execute(
        sa.update(events)
        .where(events.c.account_id == account_id)
        .values(user_id=None, detail=None, account_id=None)
    )
    await conn.execute(sa.delete(rate_counters).where(sa.or_(*counters)))  # who asked when
    await conn.execute(sa.delete(cart_items).where(cart_items.c.account_id == account_id))
    await conn.execute(sa.delete(identities).where(identities.c.account_id == account_id))
    name = await conn.scalar(sa.select(accounts.c.name).where(accounts.c.id == account_id))
    if name is not None:  # the name someone typed at sign-in is personal data too
        key = signin_name_key(name)
        await conn.execute(sa.delete(web_signin_limits).where(web_signin_limits.c.key == key))
    await conn.execute(sa.delete(accounts).where(accounts.c.id == account_id))


def signin_name_key(name: str) -> str:
    """The `web_signin_limits` key of attempts against a typed account name."""
    return f"name:{name.strip().lower()[:150]}"
