"""Sign-in limits: counted before the password check, per real client address, and a name under
attack slows down instead of locking its owner out. Real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from hashcart.retention import prune
from hashcart.store.schema import rate_counters, web_signin_limits
from hashcart.testing import RunningHashcart, running_hashcart
from hashcart.web import auth
from tests.web.visitor import Visitor

LIMIT = 5


@pytest.fixture
async def site(database_url: str) -> AsyncIterator[RunningHashcart]:
    env = {
        "HASHCART_SESSION_SECRET": "test-session-secret-0123456789",
        "HASHCART_SIGNIN_ATTEMPTS": str(LIMIT),
        # The test client connects from 127.0.0.1, the default trusted proxy: it plays nginx.
        "HASHCART_FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    async with running_hashcart(env=env, database_url=database_url, with_amazon=False) as hc:
        owner = Visitor(hc.url)
        await owner.sign_up("alice", "the right password")
        await owner.close()
        yield hc


@pytest.fixture
def slow_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the allowance, a wait longer than any burst here takes, so counts are exact."""
    monkeypatch.setattr(auth, "DELAY_STEP_SECONDS", 30.0)


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the Argon2 password checks that actually run."""
    checked: list[int] = []
    real = auth.verify_password

    async def counting(stored_hash: str, password: str) -> bool:
        checked.append(1)
        return await real(stored_hash, password)

    monkeypatch.setattr(auth, "verify_password", counting)
    return checked


async def _attempt(site: RunningHashcart, name: str, password: str, address: str) -> Any:
    visitor = Visitor(site.url)
    visitor.session.headers["X-Forwarded-For"] = address
    try:
        return await visitor.sign_in(name, password)
    finally:
        await visitor.close()


async def test_parallel_password_guesses_verify_at_most_the_limit(
    site: RunningHashcart, verifications: list[int], slow_steps: None
) -> None:
    answers = await asyncio.gather(
        *(_attempt(site, "alice", f"guess {n}", f"203.0.113.{n}") for n in range(15))
    )
    statuses = sorted(answer.status for answer in answers)
    assert len(verifications) == LIMIT
    assert statuses == [401] * LIMIT + [429] * (15 - LIMIT)
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers if a.status == 429)


async def test_an_attacker_cannot_lock_the_owner_out_of_a_name(
    site: RunningHashcart, verifications: list[int]
) -> None:
    """From a browser the name never signed in on, the owner waits seconds, not the window."""
    await asyncio.gather(
        *(_attempt(site, "alice", f"guess {n}", "203.0.113.66") for n in range(15))
    )
    waited = 0
    for _ in range(3):
        owner = await _attempt(site, "alice", "the right password", "198.51.100.7")
        if owner.status != 429:
            break
        wait = int(owner.headers["Retry-After"])
        assert wait <= 4 * auth.DELAY_STEP_SECONDS
        waited += wait
        await asyncio.sleep(wait)
    assert (owner.status, owner.headers["Location"]) == (303, "/cart")
    assert waited < 60
    assert len(verifications) <= LIMIT + 3


async def test_an_attacker_does_not_slow_down_the_owners_known_browser(
    site: RunningHashcart, verifications: list[int], slow_steps: None
) -> None:
    owner = Visitor(site.url)
    owner.session.headers["X-Forwarded-For"] = "198.51.100.8"
    try:
        assert (await owner.sign_in("alice", "the right password")).status == 303
        await owner.get("/cart")
        await owner.post("/signout", {})
        await asyncio.gather(
            *(_attempt(site, "alice", f"guess {n}", "203.0.113.67") for n in range(15))
        )
        again = await owner.sign_in("alice", "the right password")
        assert (again.status, again.headers["Location"]) == (303, "/cart")
    finally:
        await owner.close()
    # The known browser's cookie is bound to its name: it buys a stranger nothing elsewhere.
    assert len(verifications) == 1 + LIMIT + 1


async def test_everybody_behind_the_proxy_is_not_one_address(site: RunningHashcart) -> None:
    """20 failures from one visitor behind nginx must not lock out every other visitor."""
    for n in range(21):
        await _attempt(site, f"nobody-{n}", "wrong", "203.0.113.9")
    refused = await _attempt(site, "nobody-x", "wrong", "203.0.113.9")
    assert refused.status == 429
    other = await _attempt(site, "alice", "the right password", "198.51.100.7")
    assert other.status == 303


async def test_successful_sign_ins_from_one_office_address_use_up_nothing(
    site: RunningHashcart,
) -> None:
    for _ in range(25):
        answer = await _attempt(site, "alice", "the right password", "192.0.2.50")
        assert answer.status == 303


async def test_sign_ups_behind_the_proxy_are_counted_per_visitor(site: RunningHashcart) -> None:
    for n in range(12):
        visitor = Visitor(site.url)
        visitor.session.headers["X-Forwarded-For"] = f"198.51.100.{n}"
        try:
            await visitor.sign_up(f"shopper-{n}")
        finally:
            await visitor.close()


async def test_a_direct_client_cannot_choose_its_address(database_url: str) -> None:
    """With no trusted proxy at 127.0.0.1, a made-up X-Forwarded-For changes nothing."""
    env = {"HASHCART_SESSION_SECRET": "s" * 32, "HASHCART_FORWARDED_ALLOW_IPS": "10.0.0.1"}
    async with running_hashcart(env=env, database_url=database_url, with_amazon=False) as hc:
        for n in range(20):
            await _attempt(hc, f"nobody-{n}", "wrong", f"203.0.113.{n}")
        refused = await _attempt(hc, "nobody-x", "wrong", "203.0.113.200")
        assert refused.status == 429


async def _keys(site: RunningHashcart) -> set[str]:
    async with site.hashcart.engine.connect() as conn:
        limits = await conn.execute(sa.select(web_signin_limits.c.key))
        counters = await conn.execute(
            sa.select(rate_counters.c.key).where(rate_counters.c.key.startswith("web-"))
        )
        return {*limits.scalars(), *counters.scalars()}


async def test_typed_names_and_addresses_in_sign_in_counters_are_pruned(
    site: RunningHashcart,
) -> None:
    await _attempt(site, "my-password-typed-as-name", "x", "203.0.113.20")
    visitor = Visitor(site.url)
    visitor.session.headers["X-Forwarded-For"] = "203.0.113.21"
    await visitor.sign_up("bob")
    await visitor.close()
    before = await _keys(site)
    assert {"name:my-password-typed-as-name", "addr:203.0.113.20"} <= before
    assert "web-signup:addr:203.0.113.21" in before
    await prune(site.hashcart.engine, 30)
    assert await _keys(site) == before  # still in use
    await prune(site.hashcart.engine, 30, now=time.time() + 2 * 86400)
    assert await _keys(site) == set()


async def test_forgetting_an_account_erases_the_sign_in_counts_of_its_name(
    site: RunningHashcart,
) -> None:
    await _attempt(site, "Alice", "wrong", "203.0.113.30")
    assert "name:alice" in await _keys(site)
    account_id = (await site.hashcart.accounts.find(name="alice"))[0]["id"]
    await site.hashcart.accounts.delete(account_id)
    assert "name:alice" not in await _keys(site)
