"""Sign-in through an OpenID Connect provider, over real HTTP against the provider stand-in.

Each redirect is followed by hand, so every hop can be checked: hashcart's 303 to the provider's
/authorize, the provider's redirect back with a code, hashcart's 303 to where the person was going.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from yarl import URL

from hashcart.testing import SESSION_SECRET, RunningHashcart, running_hashcart
from hashcart.testing.harness import free_port
from hashcart.testing.standins.oidc import OidcStandin, OidcUser
from tests.web.visitor import Visitor

SESSION_ENV = {"HASHCART_SESSION_SECRET": SESSION_SECRET}


@dataclass
class Hop:
    status: int
    location: str
    text: str


async def hop(visitor: Visitor, url: str) -> Hop:
    async with visitor.session.get(url, allow_redirects=False) as resp:
        return Hop(resp.status, resp.headers.get("Location", ""), await resp.text())


async def to_provider(site: RunningHashcart, visitor: Visitor, next_path: str = "/cart") -> str:
    """Press the button: the provider's /authorize URL hashcart sends the browser to."""
    started = await hop(visitor, str(URL(f"{site.url}/signin/oidc").with_query(next=next_path)))
    assert started.status == 303, started.text
    return started.location


async def back_from_provider(visitor: Visitor, authorize_url: str) -> str:
    """The provider's redirect back to hashcart's callback."""
    answered = await hop(visitor, authorize_url)
    assert answered.status == 302, answered.text
    return answered.location


async def sign_in(site: RunningHashcart, visitor: Visitor, next_path: str = "/cart") -> Hop:
    callback = await back_from_provider(visitor, await to_provider(site, visitor, next_path))
    return await hop(visitor, callback)


async def signed_in(visitor: Visitor) -> bool:
    cart = await visitor.get("/cart")
    return cart.status == 200


@pytest.fixture
async def provider() -> AsyncIterator[OidcStandin]:
    async with OidcStandin(user=OidcUser("248289761001", preferred_username="jane")) as standin:
        yield standin


@pytest.fixture
async def site(provider: OidcStandin) -> AsyncIterator[RunningHashcart]:
    env = {**SESSION_ENV, **provider.env(name="Example Shop")}
    async with running_hashcart(env=env, with_amazon=False) as hc:
        yield hc


@pytest.fixture
async def visitor(site: RunningHashcart) -> AsyncIterator[Visitor]:
    person = Visitor(site.url)
    yield person
    await person.close()


async def linked_account(site: RunningHashcart, provider: OidcStandin, sub: str) -> Any:
    return await site.hashcart.kv.get("oidc", f"{provider.issuer}|{sub}")


async def test_first_sign_in_creates_and_links_an_account(
    site: RunningHashcart, provider: OidcStandin, visitor: Visitor
) -> None:
    page = await visitor.get("/signin")
    assert "Sign in with Example Shop" in page.text

    authorize = URL(await to_provider(site, visitor))
    assert str(authorize.with_query(None)) == f"{provider.url}/authorize"
    query = authorize.query
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == f"{site.url}/signin/oidc/callback"
    assert query["code_challenge_method"] == "S256"
    assert "openid" in query["scope"].split()
    assert query["state"] and query["nonce"]
    flow_cookie = next(c for c in visitor.session.cookie_jar if c.key == "hashcart_oidc")
    assert flow_cookie["httponly"] and flow_cookie["path"] == "/signin/oidc"
    assert query["state"] not in flow_cookie.value  # signed, not readable as the raw state

    done = await hop(visitor, await back_from_provider(visitor, str(authorize)))
    assert (done.status, done.location) == (303, "/cart?done=welcome")
    cart = await visitor.get("/cart?done=welcome")
    assert cart.status == 200
    assert "Signed in as <strong>jane</strong>" in cart.text
    account = await site.hashcart.accounts.find(name="jane")
    assert account and await linked_account(site, provider, "248289761001") == account[0]["id"]
    assert provider.issued[-1].claims["nonce"] == query["nonce"]


async def test_a_second_sign_in_reuses_the_account(
    site: RunningHashcart, provider: OidcStandin, visitor: Visitor
) -> None:
    first = await sign_in(site, visitor)
    assert first.location == "/cart?done=welcome"
    account_id = await linked_account(site, provider, "248289761001")

    again = Visitor(site.url)
    try:
        second = await sign_in(site, again, next_path="/cart?done=signed-in")
        assert (second.status, second.location) == (303, "/cart?done=signed-in")
        page = await again.get("/cart")
        assert "Signed in as <strong>jane</strong>" in page.text
    finally:
        await again.close()
    assert await linked_account(site, provider, "248289761001") == account_id
    assert await site.hashcart.accounts.find(name="jane-2") == []


async def test_another_person_with_the_same_name_gets_an_account_of_their_own(
    site: RunningHashcart, provider: OidcStandin, visitor: Visitor
) -> None:
    await site.hashcart.accounts.create("jane")  # a hashcart account made the usual way
    provider.user = OidcUser("9001", email="jane@example.com")
    done = await sign_in(site, visitor)
    assert done.status == 303
    page = await visitor.get("/cart")
    assert "Signed in as <strong>jane-2</strong>" in page.text
    assert await linked_account(site, provider, "9001") is not None


async def test_next_goes_only_to_local_paths(site: RunningHashcart, visitor: Visitor) -> None:
    done = await sign_in(site, visitor, next_path="https://evil.example/")
    assert done.location == "/cart?done=welcome"


async def test_a_wrong_state_is_refused(site: RunningHashcart, visitor: Visitor) -> None:
    callback = URL(await back_from_provider(visitor, await to_provider(site, visitor)))
    forged = callback.update_query(state="not-the-state-we-sent")
    refused = await hop(visitor, str(forged))
    assert refused.status == 400
    assert "did not start here" in refused.text
    assert "Traceback" not in refused.text
    assert not await signed_in(visitor)


async def test_a_callback_from_another_browser_or_replayed_is_refused(
    site: RunningHashcart, visitor: Visitor
) -> None:
    callback = await back_from_provider(visitor, await to_provider(site, visitor))
    victim = Visitor(site.url)
    try:
        # Login CSRF: someone else's code and state, opened in a browser that did not start it.
        refused = await hop(victim, callback)
        assert refused.status == 400
        assert not await signed_in(victim)
    finally:
        await victim.close()
    assert (await hop(visitor, callback)).status == 303
    assert (await hop(visitor, callback)).status == 400  # the flow ends with its first callback


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"sign_with_foreign_key": True}, id="bad-signature"),
        pytest.param({"aud": "someone-else"}, id="wrong-audience"),
        pytest.param({"nonce": "a-nonce-from-another-sign-in"}, id="wrong-nonce"),
        pytest.param({"iss": "https://other.example"}, id="wrong-issuer"),
        pytest.param({"exp": int(time.time()) - 3600}, id="expired"),
    ],
)
async def test_a_tampered_id_token_is_refused(
    site: RunningHashcart, provider: OidcStandin, visitor: Visitor, tamper: dict[str, Any]
) -> None:
    provider.sign_with_foreign_key = bool(tamper.pop("sign_with_foreign_key", False))
    provider.id_token_overrides.update(tamper)
    refused = await sign_in(site, visitor)
    assert refused.status == 401
    assert "Sign-in failed" in refused.text and "not signed in" in refused.text
    assert "Traceback" not in refused.text
    assert not await signed_in(visitor)
    assert await linked_account(site, provider, "248289761001") is None
    assert await site.hashcart.accounts.find(name="jane") == []


async def test_denied_consent_gets_a_friendly_page(
    site: RunningHashcart, provider: OidcStandin, visitor: Visitor
) -> None:
    provider.deny = True
    callback = await back_from_provider(visitor, await to_provider(site, visitor))
    assert URL(callback).query["error"] == "access_denied"
    denied = await hop(visitor, callback)
    assert denied.status == 403
    assert "Sign-in cancelled" in denied.text and "Example Shop" in denied.text
    assert not await signed_in(visitor)


async def test_a_provider_that_does_not_answer_gets_a_friendly_page() -> None:
    env = {
        **SESSION_ENV,
        "HASHCART_OIDC_ISSUER": f"http://127.0.0.1:{free_port()}",
        "HASHCART_OIDC_CLIENT_ID": "c",
        "HASHCART_OIDC_CLIENT_SECRET": "s",
    }
    async with running_hashcart(env=env, with_amazon=False) as hc:
        person = Visitor(hc.url)
        try:
            page = await hop(person, f"{hc.url}/signin/oidc?next=/cart")
            assert page.status == 502
            assert "your shop is not answering" in page.text
        finally:
            await person.close()


async def test_without_configuration_there_is_no_button_and_no_routes() -> None:
    async with running_hashcart(env=SESSION_ENV, with_amazon=False) as hc:
        person = Visitor(hc.url)
        try:
            page = await person.get("/signin")
            assert page.status == 200 and "Sign in with" not in page.text
            for path in ("/signin/oidc?next=/cart", "/signin/oidc/callback?code=x&state=y"):
                missing = await hop(person, hc.url + path)
                assert missing.status == 404
                assert "does not offer sign-in through another provider" in missing.text
        finally:
            await person.close()
