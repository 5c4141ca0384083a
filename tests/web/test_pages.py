"""The web pages over real HTTP: sign-up and sign-in, link tokens, the cart page and its forms.

A `Visitor` is a cookie jar that reads CSRF tokens off forms the way a browser would; commands
come in through `Hashcart.submit` from a fake platform, so these tests are about the web alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
import sqlalchemy as sa

from hashcart import Action, OutcomeCode
from hashcart.store.schema import link_tokens
from hashcart.testing import (
    SESSION_SECRET,
    RunningHashcart,
    TakesOrders,
    eventually,
    running_hashcart,
)
from tests.core.fakes import FakePlatform, FakePlatformPlugin
from tests.web.visitor import Visitor, add_command, link_token

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"
KINDLE = "https://www.amazon.com/dp/B08N5WRWNW"


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
async def site(platform: FakePlatform) -> AsyncIterator[RunningHashcart]:
    env = {"HASHCART_SESSION_SECRET": SESSION_SECRET, "HASHCART_SIGNIN_ATTEMPTS": "3"}
    # A store that takes orders: without one, checkout hands the cart off to Amazon instead.
    plugins = [FakePlatformPlugin(platform), TakesOrders()]
    async with running_hashcart(plugins=plugins, env=env) as hc:
        await hc.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        await hc.add_product("amazon:B08N5WRWNW", title="Kindle", price_cents=9999)
        yield hc


@pytest.fixture
async def alice(site: RunningHashcart) -> AsyncIterator[Visitor]:
    visitor = Visitor(site.url)
    yield visitor
    await visitor.close()


@pytest.fixture
async def bob(site: RunningHashcart) -> AsyncIterator[Visitor]:
    visitor = Visitor(site.url)
    yield visitor
    await visitor.close()


async def linked(site: RunningHashcart, visitor: Visitor, name: str, user_id: str) -> None:
    """Sign up `name` and link the fake platform's `user_id` through a real link token."""
    await visitor.sign_up(name)
    token = await link_token(site, user_id, f"{user_id}-first", ECHO)
    await visitor.get(f"/link/{token}")
    confirmed = await visitor.post(f"/link/{token}", {})
    assert (confirmed.status, confirmed.headers["Location"]) == (303, "/cart?done=linked")


# -- sessions and sign-in ----------------------------------------------------------------------


async def test_sign_up_sets_a_signed_httponly_samesite_cookie(alice: Visitor) -> None:
    first = await alice.get("/signin")
    cookie = first.headers.getall("Set-Cookie")[0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    page = await alice.post(
        "/signup", {"name": "alice", "password": "long enough pw", "next": "/cart"}
    )
    assert (page.status, page.headers["Location"]) == (303, "/cart?done=welcome")
    cart = await alice.get("/cart?done=welcome")
    assert cart.status == 200
    assert "Signed in as <strong>alice</strong>" in cart.text
    assert "Your cart is empty" in cart.text


async def test_a_forged_or_tampered_cookie_is_a_signed_out_visitor(
    site: RunningHashcart, alice: Visitor
) -> None:
    await alice.sign_up("alice")
    cookie = next(c for c in alice.session.cookie_jar if c.key == "hashcart_session")
    forged = cookie.value[:-3] + ("aaa" if not cookie.value.endswith("aaa") else "bbb")
    async with (
        aiohttp.ClientSession() as raw,
        raw.get(
            f"{site.url}/cart", cookies={"hashcart_session": forged}, allow_redirects=False
        ) as resp,
    ):
        assert resp.status == 303
        assert resp.headers["Location"] == "/signin?next=/cart"


async def test_cart_needs_a_session(alice: Visitor) -> None:
    page = await alice.get("/cart")
    assert (page.status, page.headers["Location"]) == (303, "/signin?next=/cart")
    events = await alice.get("/cart/events")
    assert events.status == 401


async def test_wrong_password_and_unknown_name_read_the_same(
    site: RunningHashcart, alice: Visitor, bob: Visitor
) -> None:
    await alice.sign_up("alice")
    wrong = await bob.sign_in("alice", "not the password")
    unknown = await bob.sign_in("nobody-by-this-name", "not the password")
    assert wrong.status == unknown.status == 401
    assert "That account name and password do not match." in wrong.text
    assert "That account name and password do not match." in unknown.text
    assert "exist" not in wrong.text + unknown.text


async def test_sign_in_is_rate_limited_per_name(site: RunningHashcart, bob: Visitor) -> None:
    owner = Visitor(site.url)
    await owner.sign_up("alice", "the right password")
    await owner.close()
    for _ in range(3):
        assert (await bob.sign_in("alice", "guess")).status == 401
    refused = await bob.sign_in("alice", "the right password")
    assert refused.status == 429
    assert "Too many failed sign-ins" in refused.text
    assert int(refused.headers["Retry-After"]) > 0
    # The same words for a name that does not exist: the limit tells nothing either.
    for _ in range(3):
        await bob.sign_in("ghost", "guess")
    assert (await bob.sign_in("ghost", "guess")).status == 429
    # Other names are not locked out by alice's attackers.
    other = Visitor(site.url)
    await other.sign_up("carol", "carol's password")
    await other.post("/signout", {})
    assert (await other.sign_in("carol", "carol's password")).status == 303
    await other.close()


async def test_sign_in_then_out(alice: Visitor) -> None:
    await alice.sign_up("alice", "the right password")
    await alice.get("/cart")
    out = await alice.post("/signout", {})
    assert (out.status, out.headers["Location"]) == (303, "/signin")
    assert (await alice.get("/cart")).status == 303
    back = await alice.sign_in("alice", "the right password", next_path="/cart")
    assert (back.status, back.headers["Location"]) == (303, "/cart")
    assert (await alice.get("/cart")).status == 200


async def test_next_only_goes_to_this_site(alice: Visitor) -> None:
    await alice.sign_up("alice", "the right password")
    await alice.post("/signout", {})
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        page = await alice.sign_in("alice", "the right password", next_path=evil)
        assert page.headers["Location"] == "/cart"
        await alice.post("/signout", {})


async def test_a_taken_name_cannot_be_signed_up_again(alice: Visitor, bob: Visitor) -> None:
    await alice.sign_up("alice")
    await bob.get("/signin")
    page = await bob.post("/signup", {"name": "alice", "password": "another password"})
    assert page.status == 409
    assert "not available" in page.text
    assert (await bob.get("/cart")).status == 303


# -- CSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("csrf", ["", "wrong-token"])
async def test_forms_without_the_right_csrf_token_are_refused(
    site: RunningHashcart, alice: Visitor, csrf: str
) -> None:
    await linked(site, alice, "alice", "u-alice")
    for path, form in (
        ("/cart/quantity", {"product_id": "amazon:B00X4WHP5E", "quantity": "5"}),
        ("/cart/remove", {"product_id": "amazon:B00X4WHP5E"}),
        ("/cart/unlink", {"platform": "fake", "user_id": "u-alice"}),
        ("/cart/privacy", {"dm_only": "on"}),
        ("/cart/language", {"language": "de"}),
        ("/signout", {}),
    ):
        page = await alice.post(path, form, csrf=csrf)
        assert page.status == 403, path
        assert "This form has expired" in page.text
    items = await site.cart("fake", "u-alice")
    assert [(i["product_id"], i["quantity"]) for i in items or []] == [("amazon:B00X4WHP5E", 1)]
    account = (await site.hashcart.accounts.find(platform="fake", user_id="u-alice"))[0]
    assert account["dm_only"] is False
    assert account["language"] is None


async def test_another_browsers_csrf_token_does_not_work(
    site: RunningHashcart, alice: Visitor, bob: Visitor
) -> None:
    await linked(site, alice, "alice", "u-alice")
    await bob.get("/signin")
    page = await alice.post(
        "/cart/quantity", {"product_id": "amazon:B00X4WHP5E", "quantity": "7"}, csrf=bob.csrf
    )
    assert page.status == 403


async def test_sign_in_form_needs_its_csrf_token(alice: Visitor) -> None:
    await alice.get("/signin")
    page = await alice.post("/signup", {"name": "alice", "password": "long enough pw"}, csrf="")
    assert page.status == 403


# -- link tokens --------------------------------------------------------------------------------


async def test_linking_applies_the_pending_add_and_the_bot_confirms(
    site: RunningHashcart, platform: FakePlatform, alice: Visitor
) -> None:
    token = await link_token(site, "u-alice", "e1", ECHO)
    page = await alice.get(f"/link/{token}")
    assert page.status == 200
    assert "Link alice on Fake" in page.text
    assert "including the 1 item you added before linking" in page.text
    assert 'action="/signin"' in page.text and 'action="/signup"' in page.text
    await alice.get("/signin")
    signed = await alice.post(
        "/signup", {"name": "alice", "password": "long enough pw", "next": f"/link/{token}"}
    )
    assert signed.headers["Location"] == f"/link/{token}"
    confirm = await alice.get(f"/link/{token}")
    assert f'action="/link/{token}"' in confirm.text
    done = await alice.post(f"/link/{token}", {})
    assert (done.status, done.headers["Location"]) == (303, "/cart?done=linked")
    cart = await alice.get("/cart?done=linked")
    assert "Echo Dot" in cart.text and "Linked." in cart.text
    assert "alice on Fake" in cart.text
    await eventually(lambda: any(r.outcome.code == "pending_applied" for r in platform.sent))


async def test_a_used_token_gets_410(site: RunningHashcart, alice: Visitor, bob: Visitor) -> None:
    token = await link_token(site, "u-alice", "e1", ECHO)
    await alice.sign_up("alice")
    await alice.get(f"/link/{token}")
    assert (await alice.post(f"/link/{token}", {})).status == 303
    again = await alice.get(f"/link/{token}")
    assert again.status == 410
    assert "Link expired" in again.text
    await bob.sign_up("bob")
    await bob.get("/cart")
    stolen = await bob.post(f"/link/{token}", {})
    assert stolen.status == 410
    assert await site.hashcart.accounts.find(name="bob") != []
    owner = await site.hashcart.accounts.find(platform="fake", user_id="u-alice")
    assert owner[0]["name"] == "alice"


async def test_an_expired_token_gets_410(site: RunningHashcart, alice: Visitor) -> None:
    token = await link_token(site, "u-alice", "e1", ECHO)
    async with site.hashcart.engine.begin() as conn:
        await conn.execute(
            sa.update(link_tokens)
            .where(link_tokens.c.token == token)
            .values(expires_at=time.time() - 1)
        )
    await alice.sign_up("alice")
    assert (await alice.get(f"/link/{token}")).status == 410
    assert (await alice.post(f"/link/{token}", {})).status == 410
    assert await site.hashcart.accounts.find(platform="fake", user_id="u-alice") == []


@pytest.mark.parametrize("token", ["forged-token-that-we-never-sent", "x" * 300, "%00"])
async def test_a_forged_token_gets_a_friendly_404(alice: Visitor, token: str) -> None:
    page = await alice.get(f"/link/{token}")
    assert page.status == 404
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Link not found" in page.text


async def test_two_confirmations_race_and_one_wins(
    site: RunningHashcart, alice: Visitor, bob: Visitor
) -> None:
    token = await link_token(site, "u-alice", "e1", ECHO)
    await alice.sign_up("alice")
    await bob.sign_up("bob")
    await alice.get("/cart")
    await bob.get("/cart")
    results = await asyncio.gather(alice.post(f"/link/{token}", {}), bob.post(f"/link/{token}", {}))
    assert sorted(r.status for r in results) == [303, 410]


async def test_signed_out_confirmation_goes_back_to_the_link_page(
    site: RunningHashcart, alice: Visitor
) -> None:
    token = await link_token(site, "u-alice", "e1", ECHO)
    await alice.get(f"/link/{token}")
    page = await alice.post(f"/link/{token}", {})
    assert (page.status, page.headers["Location"]) == (303, f"/link/{token}")
    assert (await alice.get(f"/link/{token}")).status == 200


# -- the cart page ------------------------------------------------------------------------------


async def test_cart_shows_items_prices_total_and_origin(
    site: RunningHashcart, alice: Visitor
) -> None:
    await linked(site, alice, "alice", "u-alice")
    await site.hashcart.submit(add_command("u-alice", "e2", KINDLE))
    await site.hashcart.submit(add_command("u-alice", "e3", KINDLE))
    page = await alice.get("/cart")
    assert "Echo Dot" in page.text and "Kindle" in page.text
    assert 'value="2"' in page.text
    assert "$199.98" in page.text and "$249.97" in page.text
    assert "via Fake" in page.text
    assert "UTC" in page.text


async def test_orders_placed_through_checkout_appear_on_the_cart_page(
    site: RunningHashcart, alice: Visitor
) -> None:
    await linked(site, alice, "alice", "u-alice")
    checkout = replace(add_command("u-alice", "c1", KINDLE), action=Action.CHECKOUT, reference=None)
    await site.hashcart.submit(checkout)
    placed = await site.hashcart.submit(replace(checkout, event_id="c2", action=Action.CONFIRM))
    assert placed.code is OutcomeCode.ORDER_PENDING
    page = await alice.get("/cart")
    assert "Orders" in page.text and f"1 item, {placed.params['total']}" in page.text

    async def settled() -> bool:
        return "(placed)" in (await alice.get("/cart")).text

    await eventually(settled)


async def test_change_quantity_remove_and_privacy(site: RunningHashcart, alice: Visitor) -> None:
    await linked(site, alice, "alice", "u-alice")
    await alice.get("/cart")
    page = await alice.post("/cart/quantity", {"product_id": "amazon:B00X4WHP5E", "quantity": "4"})
    assert page.headers["Location"] == "/cart?done=quantity"
    assert [i["quantity"] for i in await site.cart("fake", "u-alice") or []] == [4]
    for bad in ("-1", "1000", "two"):
        await alice.post("/cart/quantity", {"product_id": "amazon:B00X4WHP5E", "quantity": bad})
    assert [i["quantity"] for i in await site.cart("fake", "u-alice") or []] == [4]
    await alice.post("/cart/privacy", {"dm_only": "on"})
    account = (await site.hashcart.accounts.find(name="alice"))[0]
    assert account["dm_only"] is True
    assert "by direct message only" in (await alice.get("/cart")).text
    await alice.post("/cart/remove", {"product_id": "amazon:B00X4WHP5E"})
    assert await site.cart("fake", "u-alice") == []


async def test_privacy_switch_changes_how_the_next_answer_is_sent(
    site: RunningHashcart, platform: FakePlatform, alice: Visitor
) -> None:
    await linked(site, alice, "alice", "u-alice")
    await alice.get("/cart")
    await alice.post("/cart/privacy", {"dm_only": "on"})
    await site.hashcart.submit(add_command("u-alice", "e9", KINDLE))
    sent = await eventually(lambda: [r for r in platform.sent if r.event_key.endswith(":e9")])
    assert sent[0].target.private is True


async def test_language_setting_words_the_next_answer_and_the_notice(
    site: RunningHashcart, platform: FakePlatform, alice: Visitor
) -> None:
    await linked(site, alice, "alice", "u-alice")
    assert '<option value="auto" selected>' in (await alice.get("/cart")).text
    page = await alice.post("/cart/language", {"language": "de"})
    assert page.headers["Location"] == "/cart?done=language"
    account = (await site.hashcart.accounts.find(name="alice"))[0]
    assert account["language"] == "de"
    shown = (await alice.get("/cart?done=language")).text
    assert "Sprache gespeichert: Der Bot antwortet dir auf Deutsch." in shown
    assert '<option value="de" lang="de" selected>Deutsch</option>' in shown
    await site.hashcart.submit(add_command("u-alice", "e9", KINDLE))
    sent = await eventually(lambda: [r for r in platform.sent if r.event_key.endswith(":e9")])
    assert sent[0].locale == "de"

    await alice.post("/cart/language", {"language": "klingon"})  # not offered: nothing changes
    assert (await site.hashcart.accounts.find(name="alice"))[0]["language"] == "de"
    await alice.post("/cart/language", {"language": "auto"})
    assert (await site.hashcart.accounts.find(name="alice"))[0]["language"] is None
    shown = (await alice.get("/cart?done=language")).text
    assert "the language each platform reports." in shown


async def test_unlink_from_the_page(site: RunningHashcart, alice: Visitor) -> None:
    await linked(site, alice, "alice", "u-alice")
    await alice.get("/cart")
    page = await alice.post("/cart/unlink", {"platform": "fake", "user_id": "u-alice"})
    assert page.headers["Location"] == "/cart?done=unlinked"
    assert await site.hashcart.accounts.find(platform="fake", user_id="u-alice") == []
    assert "No chat account is linked yet" in (await alice.get("/cart")).text


async def test_another_users_cart_is_neither_visible_nor_changeable(
    site: RunningHashcart, alice: Visitor, bob: Visitor
) -> None:
    await linked(site, alice, "alice", "u-alice")
    await linked(site, bob, "bob", "u-bob")
    await site.hashcart.submit(add_command("u-alice", "e5", KINDLE))
    bobs = await bob.get("/cart")
    assert "Kindle" not in bobs.text and "@alice" not in bobs.text
    await bob.post("/cart/quantity", {"product_id": "amazon:B08N5WRWNW", "quantity": "9"})
    await bob.post("/cart/remove", {"product_id": "amazon:B00X4WHP5E"})
    await bob.post("/cart/unlink", {"platform": "fake", "user_id": "u-alice"})
    alices = {i["product_id"]: i["quantity"] for i in await site.cart("fake", "u-alice") or []}
    assert alices == {"amazon:B00X4WHP5E": 1, "amazon:B08N5WRWNW": 1}
    assert await site.hashcart.accounts.find(platform="fake", user_id="u-alice") != []
    assert await site.cart("fake", "u-bob") == []


async def test_the_event_stream_says_when_the_cart_changes(
    site: RunningHashcart, alice: Visitor
) -> None:
    await linked(site, alice, "alice", "u-alice")
    async with alice.session.get(f"{site.url}/cart/events") as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert await stream.content.readline() == b"retry: 2000\n"
        await stream.content.readuntil(b"data: connected\n\n")
        await site.hashcart.submit(add_command("u-alice", "e7", KINDLE))

        async def changed() -> bool:
            line = await asyncio.wait_for(stream.content.readline(), 5)
            return line == b"event: changed\n"

        await eventually(changed, timeout=5)


def test_the_cli_has_a_playground_command() -> None:
    from hashcart.cli import build_parser

    args = build_parser().parse_args(["playground", "--no-migrate"])
    assert (args.command, args.no_migrate) == ("playground", True)
