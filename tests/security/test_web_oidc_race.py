"""Two first OpenID Connect sign-ins of one person at once make one account, not two."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from hashcart.store.schema import accounts
from hashcart.testing import RunningHashcart, running_hashcart
from hashcart.testing.standins.oidc import OidcStandin, OidcUser
from tests.web.test_oidc import back_from_provider, hop, to_provider
from tests.web.visitor import Visitor


@pytest.fixture
async def provider() -> AsyncIterator[OidcStandin]:
    async with OidcStandin(user=OidcUser("248289761001", preferred_username="jane")) as standin:
        yield standin


@pytest.fixture
async def site(database_url: str, provider: OidcStandin) -> AsyncIterator[RunningHashcart]:
    env = {"HASHCART_SESSION_SECRET": "test-session-secret-0123456789", **provider.env(name="Shop")}
    async with running_hashcart(env=env, database_url=database_url, with_amazon=False) as hc:
        yield hc


async def test_two_simultaneous_first_oidc_sign_ins_make_one_account(
    site: RunningHashcart, provider: OidcStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both callbacks find no account yet and then create one: hold each creation a moment so
    # the two overlap every time, as two tabs finishing together would.
    real_create = site.hashcart.accounts.create

    async def slow_create(name: str) -> Any:
        await asyncio.sleep(0.3)
        return await real_create(name)

    monkeypatch.setattr(site.hashcart.accounts, "create", slow_create)
    tabs = [Visitor(site.url), Visitor(site.url)]
    try:
        callbacks = [await back_from_provider(tab, await to_provider(site, tab)) for tab in tabs]
        done = await asyncio.gather(
            *(hop(tab, url) for tab, url in zip(tabs, callbacks, strict=True))
        )
        assert [answer.status for answer in done] == [303, 303]
        async with site.hashcart.engine.connect() as conn:
            names = list((await conn.execute(sa.select(accounts.c.name))).scalars())
        assert names == ["jane"]
        for tab in tabs:
            page = await tab.get("/cart")
            assert "Signed in as <strong>jane</strong>" in page.text
        linked = await site.hashcart.kv.get("oidc", f"{provider.issuer}|248289761001")
        assert linked == (await site.hashcart.accounts.find(name="jane"))[0]["id"]
    finally:
        for tab in tabs:
            await tab.close()
