"""Web sign-in: accounts with a password, and the session version that ends sessions."""

from __future__ import annotations

import time

import sqlalchemy as sa

from hashcart.accounts.records import AccountStore
from hashcart.store.schema import accounts, web_logins


class WebLogins(AccountStore):
    async def set_password(
        self, account_id: str, password_hash: str, *, end_sessions: bool = True
    ) -> None:
        """Give an account (one an operator made, say) a web password, or change it.

        A new password ends the account's web sessions (`end_sessions`); re-hashing the same
        password with newer parameters passes False.
        """
        now = time.time()
        async with self._engine.begin() as conn:
            await self._must_exist(conn, account_id)
            if end_sessions:
                await conn.execute(self._next_session_version(account_id))
            await conn.execute(self._password(account_id, password_hash, now))

    async def session_version(self, account_id: str) -> int | None:
        """The account's web session version (None: no such account); cookies carry it."""
        async with self._engine.connect() as conn:
            found = await conn.scalar(
                sa.select(accounts.c.session_version).where(accounts.c.id == account_id)
            )
        return None if found is None else int(found)

    async def end_sessions(self, account_id: str) -> None:
        """End every web session of the account, on every browser (sign-out everywhere)."""
        async with self._engine.begin() as conn:
            await conn.execute(self._next_session_version(account_id))

    @staticmethod
    def _next_session_version(account_id: str) -> sa.Update:
        return (
            sa.update(accounts)
            .where(accounts.c.id == account_id)
            .values(session_version=accounts.c.session_version + 1)
        )

    async def login_of(self, name: str) -> tuple[str, str] | None:
        """(account id, password hash) of the account with this name, if it can sign in."""
        query = (
            sa.select(accounts.c.id, web_logins.c.password_hash)
            .join(web_logins, web_logins.c.account_id == accounts.c.id)
            .where(accounts.c.name == name)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (row.id, row.password_hash)
