"""The one-time links a bot sends so a person can link a platform identity on the web."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

import sqlalchemy as sa

from hashcart.accounts.records import AccountStore
from hashcart.store.schema import link_tokens, pending_commands


@dataclass(frozen=True)
class LinkToken:
    token: str
    platform: str
    user_id: str
    user_name: str | None
    expires_at: float
    used_at: float | None

    @property
    def usable(self) -> bool:
        return self.used_at is None and self.expires_at > time.time()


_COLUMNS = [link_tokens.c[field.name] for field in fields(LinkToken)]


class LinkTokens(AccountStore):
    async def token(self, token: str) -> LinkToken | None:
        query = sa.select(*_COLUMNS).where(link_tokens.c.token == token)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else LinkToken(*row)

    async def claim_token(self, token: str) -> LinkToken | None:
        """Mark a usable link token used; None when it is unknown, used or expired.

        One UPDATE decides, so two confirmations racing for one token cannot both win.
        """
        now = time.time()
        usable = sa.and_(link_tokens.c.used_at.is_(None), link_tokens.c.expires_at > now)
        claim = (
            sa.update(link_tokens)
            .where(link_tokens.c.token == token, usable)
            .values(used_at=now)
            .returning(*_COLUMNS)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(claim)).first()
        return None if row is None else LinkToken(*row)

    async def pending_count(self, platform: str, user_id: str) -> int:
        """How many adds this identity made before it was linked (and that have not expired)."""
        async with self._engine.connect() as conn:
            found = await conn.execute(
                sa.select(sa.func.count()).where(
                    pending_commands.c.platform == platform,
                    pending_commands.c.user_id == user_id,
                    pending_commands.c.expires_at > time.time(),
                )
            )
        return int(found.scalar_one())

    async def release_token(self, token: str) -> None:
        """Make a claimed token usable again (linking failed after the claim)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(link_tokens).where(link_tokens.c.token == token).values(used_at=None)
            )
