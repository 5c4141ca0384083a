"""Which account an OpenID Connect subject signs in to: one account per subject, made on the
first sign-in, even when two tabs finish their first sign-in at once."""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.errors import Conflict, NotFound
from hashcart.store import dialect_insert
from hashcart.store.schema import plugin_kv
from hashcart.web.server import hashcart_of

log = logging.getLogger(__name__)

KV_NAMESPACE = "oidc"
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def account_name_from(claims: dict[str, Any]) -> str:
    """A readable account name from the claims; made unique by `account_for`."""
    for candidate in (claims.get("preferred_username"), claims.get("email")):
        if isinstance(candidate, str) and candidate:
            cleaned = _NAME_CHARS.sub("-", candidate.split("@")[0]).strip("-.")[:90]
            if cleaned:
                return cleaned
    return "shopper"


async def account_for(
    request: web.Request, issuer: str, claims: dict[str, Any]
) -> tuple[str, int, bool]:
    """(account, its session version, whether it is new) linked to this subject.

    A first sign-in creates an account and then claims the subject with one insert that only
    one writer can win; a sign-in that loses the race (the same person signing in from two tabs
    at once) removes the account it made and uses the winner's, so one person gets one account.
    """
    hashcart = hashcart_of(request)
    key = f"{issuer}|{claims['sub']}"
    known = await hashcart.kv.get(KV_NAMESPACE, key)
    if isinstance(known, str):
        version = await hashcart.accounts.session_version(known)
        if version is not None:
            return known, version, False
        log.info("oidc: the account linked to %s is gone; making a new one", key)
        await hashcart.kv.delete(KV_NAMESPACE, key)
    base = account_name_from(claims)
    for attempt in range(1, 21):
        name = base if attempt == 1 else f"{base}-{attempt}"
        try:
            created = await hashcart.accounts.create(name)
            break
        except Conflict:
            continue
    else:
        created = await hashcart.accounts.create(f"{base}-{secrets.token_hex(4)}")
    account_id = str(created["id"])
    winner = await _claim_subject(hashcart.engine, key, account_id)
    if winner != account_id:
        with contextlib.suppress(NotFound):
            await hashcart.accounts.delete(account_id)
        version = await hashcart.accounts.session_version(winner)
        return winner, version or 0, False
    return account_id, 0, True


async def _claim_subject(engine: AsyncEngine, key: str, account_id: str) -> str:
    """Link the subject to `account_id` unless it is linked already; returns the linked one."""
    claim = (
        dialect_insert(engine, plugin_kv)
        .values(namespace=KV_NAMESPACE, key=key, value=account_id, expires_at=None)
        .on_conflict_do_nothing(index_elements=[plugin_kv.c.namespace, plugin_kv.c.key])
    )
    async with engine.begin() as conn:
        if (await conn.execute(claim)).rowcount == 1:
            return account_id
        linked = await conn.scalar(
            sa.select(plugin_kv.c.value).where(
                plugin_kv.c.namespace == KV_NAMESPACE, plugin_kv.c.key == key
            )
        )
    return str(linked)
