"""Web sign-in: accounts with a password, and the session version that ends sessions."""

from __future__ import annotations

import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hashcart.accounts.base import AccountStore
from hashcart.errors import Conflict, NotFound
from hashcart.store import dialect_insert
from hashcart.store.schema import accounts, web_logins


class WebLogins(AccountStore):
    async def create_with_password(self, name: str, password_hash: str) -> dict[str, Any]:
        """A new account that can sign in on the web; `Conflict` when the name is taken."""
        account_id = uuid.uuid4().hex
        now = time.time()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    sa.insert(accounts).values(id=account_id, name=name, created_at=now)
                )
                await conn.execute(
                    sa.insert(web_logins).values(
                        account_id=account_id,
                        password_hash=password_hash,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise Conflict(f"an account named {name!r} exists already") from None
        return {"id": account_id, "name": name}

    async def set_password(
        self, account_id: str, password_hash: str, *, end_sessions: bool = True
    ) -> None:
        """Give an account (one an operator made, say) a web password, or change it.

        A new password ends the account's web sessions (`end_sessions`); re-hashing the same
        password with newer parameters passes False.
        """
        now = time.time()
        async with self._engine.begin() as conn:
            if not await self._exists(conn, account_id):
                raise NotFound(f"no account {account_id!r}")
            if end_sessions:
                await conn.execute(self._next_session_version(account_id))
            insert = dialect_insert(self._engine, web_logins).values(
                account_id=account_id, password_hash=password_hash, created_at=now, updated_at=now
            )
            await conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[web_logins.c.account_id],
                    set_={"password_hash": password_hash, "updated_at": now},
                )
            )

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
