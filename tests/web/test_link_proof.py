"""Linking by proof: `/link/{platform}` signs the person in with the platform, then links.

Every hop goes over real HTTP and is followed by hand: hashcart's 303 to the platform's
authorize endpoint (on the platform's stand-in), the stand-in's redirect back with a code,
hashcart's exchange of that code at the stand-in's token endpoint and its question who this is,
then the confirmation page and its CSRF-checked POST.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from yarl import URL

import hashcart_discord
import hashcart_mastodon
import hashcart_slack
import hashcart_twitter
from hashcart import ProvenIdentity
from hashcart.testing import RunningHashcart, eventually, running_hashcart
from hashcart.web.linking import LINK_PROOF_KEY
from hashcart_discord.testing import DiscordStandin
from hashcart_mastodon.testing import MastodonStandin
from hashcart_slack.testing import SlackStandin
from hashcart_twitter.testing import XStandin, tweet, user
from tests.web.visitor import Visitor

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"
ALICE = user("alice", "6253282")
BOB = user("bob", "783214")
SESSION_ENV = {"HASHCART_SESSION_SECRET": "link-proof-test-secret-0123456789"}


@dataclass
class Hop:
    status: int
    location: str
    text: str


async def hop(visitor: Visitor, url: str, cookies: dict[str, str] | None = None) -> Hop:
    async with visitor.session.get(url, allow_redirects=False, cookies=cookies) as resp:
        return Hop(resp.status, resp.headers.get("Location", ""), await resp.text())


async def to_callback(site: RunningHashcart, visitor: Visitor, platform: str) -> tuple[Hop, str]:
    """Open `/link/{platform}` and let the platform answer; returns hashcart's first hop and the
    callback URL the platform sends the browser back to."""
    started = await hop(visitor, f"{site.url}/link/{platform}")
    assert started.status == 303, started.text
    back = await hop(visitor, started.location)
    assert back.status == 302, back.text
    return started, back.location


async def prove(site: RunningHashcart, visitor: Visitor, platform: str) -> Hop:
    """The whole sign-in at the platform, ending on hashcart's answer to the callback."""
    _, callback = await to_callback(site, visitor, platform)
    return await hop(visitor, callback)


def flow_cookie(visitor: Visitor) -> dict[str, str]:
    return {c.key: c.value for c in visitor.session.cookie_jar if c.key == "hashcart_link_flow"}


@pytest.fixture
async def x() -> AsyncIterator[XStandin]:
    async with XStandin() as standin:
        yield standin


@pytest.fixture
async def site(x: XStandin, database_url: str) -> AsyncIterator[RunningHashcart]:
    async with running_hashcart(
        plugins=[hashcart_twitter], env={**x.env(), **SESSION_ENV}, database_url=database_url
    ) as running:
        await running.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        yield running


@pytest.fixture
async def visitor(site: RunningHashcart) -> AsyncIterator[Visitor]:
    person = Visitor(site.url)
    yield person
    await person.close()


async def test_x_link_by_proof_end_to_end_applies_the_add_made_before_linking(
    x: XStandin, site: RunningHashcart, visitor: Visitor
) -> None:
    # Alice, unlinked, asks in public: the reply points to /link/twitter and carries no token.
    deal = x.add_tweet(tweet("Great deal", user=BOB, urls=[ECHO]))
    ask = tweet("#amazoncart", user=ALICE, in_reply_to=deal)
    assert (await x.deliver(f"{site.url}/twitter/webhook", [ask])).status == 200
    answer = (await eventually(lambda: x.replies_to(ask)))[0]
    assert f"{site.url}/link/twitter" in answer.text

    # She opens it: hashcart sends her to X's authorize endpoint with state and PKCE.
    x.signin_as(ALICE)
    started, callback = await to_callback(site, visitor, "twitter")
    authorize = URL(started.location)
    assert str(authorize.with_query(None)) == f"{x.url}/i/oauth2/authorize"
    assert authorize.query["client_id"] == x.oauth2.client_id
    assert authorize.query["redirect_uri"] == f"{site.url}/link/twitter/callback"
    assert authorize.query["scope"] == "users.read tweet.read"
    assert authorize.query["code_challenge_method"] == "S256"
    assert URL(callback).query["state"] == authorize.query["state"]

    done = await hop(visitor, callback)
    assert (done.status, done.location) == (303, "/link/twitter/confirm")
    # The code was traded with the verifier, the client authenticated with Basic.
    exchanged = x.oauth2.token_requests[-1]
    assert len(exchanged["code_verifier"]) >= 43
    assert [c.auth for c in x.calls_to("POST", "/2/oauth2/token")] == ["basic"]
    assert [c.auth for c in x.calls_to("GET", "/2/users/me")] == ["oauth2"]

    # The page names what it will link; she is not signed in to hashcart yet.
    confirm = await visitor.get("/link/twitter/confirm")
    assert confirm.status == 200
    assert "@alice" in confirm.text and ALICE["id_str"] in confirm.text
    assert "including the 1 item you added before linking" in confirm.text
    assert 'action="/link/twitter/confirm"' not in confirm.text
    signed_up = await visitor.post(
        "/signup",
        {"name": "alice", "password": "long enough pw", "next": "/link/twitter/confirm"},
    )
    assert signed_up.headers["Location"] == "/link/twitter/confirm"
    confirm = await visitor.get("/link/twitter/confirm")
    assert "to your hashcart account" in confirm.text and "<strong>alice</strong>" in confirm.text

    linked = await visitor.post("/link/twitter/confirm", {})
    assert (linked.status, linked.headers["Location"]) == (303, "/cart?done=linked")
    cart = await site.cart("twitter", ALICE["id_str"])
    assert cart is not None and [i["product_id"] for i in cart] == ["amazon:B00X4WHP5E"]
    # The add she made before linking is applied, and the bot says so on X.
    both = await eventually(lambda: len(x.replies_to(ask)) == 2 and x.replies_to(ask))
    assert "Echo Dot" in both[1].text
    # The proof is spent with the link: the confirmation page is gone.
    assert (await visitor.get("/link/twitter/confirm")).status == 410


async def test_a_replayed_callback_is_refused(
    x: XStandin, site: RunningHashcart, visitor: Visitor
) -> None:
    x.signin_as(ALICE)
    _, callback = await to_callback(site, visitor, "twitter")
    cookie = flow_cookie(visitor)
    assert (await hop(visitor, callback)).location == "/link/twitter/confirm"
    replayed = await hop(Visitor(site.url), callback, cookies=cookie)
    assert replayed.status == 400
    assert "already used" in replayed.text
    assert len(x.oauth2.token_requests) == 1


async def test_a_forged_or_foreign_state_is_refused(
    x: XStandin, site: RunningHashcart, visitor: Visitor
) -> None:
    x.signin_as(ALICE)
    _, callback = await to_callback(site, visitor, "twitter")
    forged = str(URL(callback).update_query(state="forged-state"))
    assert (await hop(visitor, forged)).status == 400
    # The callback in another browser (no flow cookie): an attacker's code in a victim's browser.
    stranger = Visitor(site.url)
    try:
        assert (await hop(stranger, callback)).status == 400
        # A flow cookie not signed with our key is nobody's.
        forged_cookie = {"hashcart_link_flow": "eyJwIjoidHdpdHRlciJ9.forged.signature"}
        assert (await hop(stranger, callback, cookies=forged_cookie)).status == 400
    finally:
        await stranger.close()
    assert x.oauth2.token_requests == []
    assert await site.cart("twitter", ALICE["id_str"]) is None


async def test_confirming_needs_the_csrf_token_and_a_valid_proof(
    x: XStandin, site: RunningHashcart, visitor: Visitor
) -> None:
    await visitor.sign_up("alice")
    x.signin_as(ALICE)
    assert (await prove(site, visitor, "twitter")).location == "/link/twitter/confirm"
    await visitor.get("/link/twitter/confirm")
    assert (await visitor.post("/link/twitter/confirm", {}, csrf="wrong")).status == 403
    assert await site.cart("twitter", ALICE["id_str"]) is None
    # Without the proof cookie (another browser, or a forged one), nothing to confirm.
    other = Visitor(site.url)
    try:
        await other.sign_up("mallory")
        await other.get("/cart")
        answer = await other.post("/link/twitter/confirm", {})
        assert answer.status == 410
    finally:
        await other.close()
    assert await site.cart("twitter", ALICE["id_str"]) is None


async def test_an_identity_linked_to_another_account_is_a_conflict(
    x: XStandin, site: RunningHashcart, visitor: Visitor
) -> None:
    await site.link("bob", "twitter", ALICE["id_str"])
    await visitor.sign_up("alice")
    x.signin_as(ALICE)
    await prove(site, visitor, "twitter")
    await visitor.get("/link/twitter/confirm")
    answer = await visitor.post("/link/twitter/confirm", {})
    assert answer.status == 409
    assert "linked to another account" in answer.text
    found = await site.hashcart.accounts.find(name="bob")
    assert found and found[0]["identities"][0]["user_id"] == ALICE["id_str"]


async def test_cancelling_at_x_links_nothing(
    x: XStandin, site: RunningHashcart, visitor: Visitor
) -> None:
    x.signin_as(None)
    answer = await prove(site, visitor, "twitter")
    assert answer.status == 403
    assert "cancelled" in answer.text
    assert x.oauth2.token_requests == []


async def test_x_refusing_the_code_links_nothing(
    x: XStandin, site: RunningHashcart, visitor: Visitor
) -> None:
    x.signin_as(ALICE)
    _, callback = await to_callback(site, visitor, "twitter")
    wrong_code = str(URL(callback).update_query(code="not-a-code-x-issued"))
    answer = await hop(visitor, wrong_code)
    assert answer.status == 401
    assert (await visitor.get("/link/twitter/confirm")).status == 410


async def test_x_being_down_is_an_outage_not_a_refusal(
    x: XStandin, site: RunningHashcart, visitor: Visitor
) -> None:
    x.signin_as(ALICE)
    _, callback = await to_callback(site, visitor, "twitter")
    x.fail_next(1, status=503, path="/2/oauth2/token")
    answer = await hop(visitor, callback)
    assert answer.status == 502
    assert "could not confirm" in answer.text


async def test_one_address_cannot_start_sign_ins_without_end(
    x: XStandin, site: RunningHashcart, visitor: Visitor
) -> None:
    """Each start keeps a row until its callback: a stranger must not fill the database."""
    for _ in range(30):
        assert (await hop(visitor, f"{site.url}/link/twitter")).status == 303
    refused = await hop(visitor, f"{site.url}/link/twitter")
    assert refused.status == 429
    assert len(await site.hashcart.kv.keys("link-proof-flow")) == 30


async def test_a_platform_without_sign_in_gets_a_friendly_404(database_url: str) -> None:
    async with running_hashcart(env=SESSION_ENV, database_url=database_url) as running:
        stranger = Visitor(running.url)
        try:
            page = await stranger.get("/link/twitter")
            assert page.status == 404
            assert "private message" in page.text
            assert page.headers["Content-Type"].startswith("text/html")
            # A token still takes the token route: unknown, so its own 404.
            assert "not one we sent" in (await stranger.get("/link/" + "a" * 32)).text
        finally:
            await stranger.close()


async def test_a_userinfo_reader_that_raises_refuses_the_sign_in(
    x: XStandin, site: RunningHashcart, visitor: Visitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(answer: Any) -> Any:
        raise KeyError("data")

    state = site.app[LINK_PROOF_KEY]
    monkeypatch.setitem(
        state.providers, "twitter", replace(state.providers["twitter"], identity=broken)
    )
    x.signin_as(ALICE)
    answer = await prove(site, visitor, "twitter")
    assert answer.status == 401
    assert (await visitor.get("/link/twitter/confirm")).status == 410


def test_the_identity_readers_accept_only_answers_that_name_someone() -> None:
    from hashcart_discord.signin import identity_of as discord_identity
    from hashcart_mastodon.signin import identity_of as mastodon_identity
    from hashcart_slack.signin import identity_of as slack_identity
    from hashcart_twitter.signin import identity_of as x_identity

    assert x_identity({"data": {"id": "6253282", "username": "alice"}}) == ProvenIdentity(
        "6253282", "alice"
    )
    assert x_identity({"errors": [{"title": "Unauthorized"}]}) is None
    assert x_identity({"data": {"id": "../6253282"}}) is None
    slack_ok = {
        "ok": True,
        "https://slack.com/team_id": "T1",
        "https://slack.com/user_id": "U1",
        "name": "Alice",
    }
    assert slack_identity(slack_ok) == ProvenIdentity("T1:U1", "Alice")
    assert slack_identity({**slack_ok, "ok": False}) is None
    assert slack_identity({"ok": True, "sub": "U1"}) is None
    assert discord_identity({"id": "80351110224678912", "username": "nelly"}) == ProvenIdentity(
        "80351110224678912", "nelly"
    )
    assert discord_identity({"message": "401: Unauthorized", "code": 0}) is None
    assert mastodon_identity({"id": "100007", "acct": "alice"}) == ProvenIdentity("100007", "alice")
    assert mastodon_identity({"error": "The access token is invalid"}) is None


# ---------------------------------------------------------------------------------------------
# The other platforms, through their stand-ins' sign-in endpoints
# ---------------------------------------------------------------------------------------------


async def _link_by_proof(site: RunningHashcart, platform: str, account: str) -> Visitor:
    person = Visitor(site.url)
    await person.sign_up(account)
    answer = await prove(site, person, platform)
    assert (answer.status, answer.location) == (303, f"/link/{platform}/confirm"), answer.text
    page = await person.get(f"/link/{platform}/confirm")
    assert page.status == 200
    linked = await person.post(f"/link/{platform}/confirm", {})
    assert linked.headers["Location"] == "/cart?done=linked"
    return person


async def _identities(site: RunningHashcart, account: str) -> list[tuple[str, str, Any]]:
    found = await site.hashcart.accounts.find(name=account)
    return [(i["platform"], i["user_id"], i["user_name"]) for i in found[0]["identities"]]


async def test_slack_link_by_proof_keys_the_identity_by_team_and_user(database_url: str) -> None:
    async with SlackStandin(team_id="T0SHOP") as slack:
        env = {
            **SESSION_ENV,
            "HASHCART_SLACK_API_URL": slack.api_url,
            "HASHCART_SLACK_SIGNING_SECRET": slack.signing_secret,  # a Slack app always has one
            "HASHCART_SLACK_CLIENT_ID": slack.client_id,
            "HASHCART_SLACK_CLIENT_SECRET": slack.client_secret,
            "HASHCART_SLACK_AUTHORIZE_URL": f"{slack.url}/openid/connect/authorize",
        }
        async with running_hashcart(
            plugins=[hashcart_slack], env=env, database_url=database_url
        ) as site:
            slack.signin_as("U0ALICE", name="alice")
            person = await _link_by_proof(site, "slack", "alice")
            await person.close()
            assert await _identities(site, "alice") == [("slack", "T0SHOP:U0ALICE", "alice")]
            assert slack.openid.token_requests[-1]["client_id"] == slack.client_id


async def test_discord_link_by_proof(database_url: str) -> None:
    async with DiscordStandin() as discord:
        alice = discord.add_user("alice")
        env = {
            **SESSION_ENV,
            "HASHCART_DISCORD_API_URL": discord.api_url,
            "HASHCART_DISCORD_CLIENT_ID": discord.oauth2.client_id,
            "HASHCART_DISCORD_CLIENT_SECRET": discord.oauth2.client_secret,
            "HASHCART_DISCORD_AUTHORIZE_URL": f"{discord.url}/oauth2/authorize",
        }
        async with running_hashcart(
            plugins=[hashcart_discord], env=env, database_url=database_url
        ) as site:
            discord.signin_as(alice)
            person = await _link_by_proof(site, "discord", "alice")
            await person.close()
            assert await _identities(site, "alice") == [("discord", str(alice.id), "alice")]


async def test_mastodon_link_by_proof(database_url: str) -> None:
    async with MastodonStandin() as mastodon:
        alice = mastodon.add_account("alice")
        env = {
            **SESSION_ENV,
            **mastodon.env(),
            "HASHCART_MASTODON_CLIENT_ID": mastodon.oauth2.client_id,
            "HASHCART_MASTODON_CLIENT_SECRET": mastodon.oauth2.client_secret,
        }
        async with running_hashcart(
            plugins=[hashcart_mastodon], env=env, database_url=database_url
        ) as site:
            mastodon.signin_as(alice)
            person = await _link_by_proof(site, "mastodon", "alice")
            await person.close()
            assert await _identities(site, "alice") == [("mastodon", alice.id, "alice")]
