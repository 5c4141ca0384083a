"""Linking platform identities to accounts, the commands that waited for the link, and the
one-time links a bot sends so a person can link an identity on the web."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hashcart.accounts.records import AccountStore
from hashcart.commands import CartCommand
from hashcart.errors import Conflict, NotFound
from hashcart.store.schema import identities, link_tokens, pending_commands


class Identities(AccountStore):
    async def link(
        self, account_id: str, platform: str, user_id: str, user_name: str | None = None
    ) -> list[CartCommand]:
        """Link an identity; returns the pending adds it had waiting, now taken off the list."""
        now = time.time()
        try:
            async with self._engine.begin() as conn:
                await self._must_exist(conn, account_id)
                owner = (
                    await conn.execute(
                        sa.select(identities.c.account_id).where(
                            identities.c.platform == platform, identities.c.user_id == user_id
                        )
                    )
                ).scalar()
                if owner is not None and owner != account_id:
                    raise Conflict(f"{platform} user {user_id} is linked to another account")
                if owner is None:
                    await conn.execute(
                        sa.insert(identities).values(
                            platform=platform,
                            user_id=user_id,
                            account_id=account_id,
                            user_name=user_name,
                            created_at=now,
                        )
                    )
                # The adds this identity made before it was linked come along, once.
                where = sa.and_(
                    pending_commands.c.platform == platform, pending_commands.c.user_id == user_id
                )
                rows = await conn.execute(
                    sa.select(pending_commands.c.command, pending_commands.c.expires_at)
                    .where(where)
                    .order_by(pending_commands.c.id)
                )
                waiting = [CartCommand.from_json(r.command) for r in rows if r.expires_at > now]
                await conn.execute(sa.delete(pending_commands).where(where))
                return waiting
        except IntegrityError:
            raise Conflict(f"{platform} user {user_id} is linked to another account") from None

    async def unlink(self, account_id: str, platform: str, user_id: str) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.delete(identities).where(
                    identities.c.account_id == account_id,
                    identities.c.platform == platform,
                    identities.c.user_id == user_id,
                )
            )
        if result.rowcount == 0:
            raise NotFound(f"{platform} user {user_id} is not linked to account {account_id!r}")


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
