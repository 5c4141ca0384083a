"""One-time link tokens never go out in public.

The attack: an unlinked X (or Mastodon) user asks in public, and the public answer carried
`{PUBLIC_URL}/link/<token>`. Anyone reading the thread could open it first, confirm it in their
own hashcart account, and from then on every add of the asker landed in the reader's cart.
Now a public answer points to `/link/{platform}`, where only someone who signs in with the
platform as the asker can link the asker; tokens go only through private channels.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

import hashcart_mastodon
import hashcart_slack
import hashcart_twitter
from hashcart import Action, CartCommand, OutcomeCode, ReplyTarget
from hashcart.store.schema import link_tokens
from hashcart.testing import RunningHashcart, eventually, running_hashcart
from hashcart_mastodon.testing import MastodonStandin
from hashcart_slack.testing import SlackStandin
from hashcart_twitter.testing import XStandin, direct_message, dm_delivery, tweet, user
from tests.web.visitor import Visitor

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"
KINDLE = "https://www.amazon.com/dp/B08N5WRWNW"
ALICE = user("alice", "6253282")
BOB = user("bob", "783214")
MALLORY = user("mallory", "666001")
SESSION_ENV = {"HASHCART_SESSION_SECRET": "link-token-test-secret-0123456789"}
#: `secrets.token_urlsafe(24)`: what a link token looks like in a URL.
TOKEN_URL = re.compile(r"/link/([A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])")
LINK_URL = re.compile(r"https?://[^\s]+/link/[A-Za-z0-9_-]+")


@pytest.fixture
async def x() -> AsyncIterator[XStandin]:
    async with XStandin() as standin:
        yield standin


@pytest.fixture
async def hc(x: XStandin, database_url: str) -> AsyncIterator[RunningHashcart]:
    async with running_hashcart(
        plugins=[hashcart_twitter], env={**x.env(), **SESSION_ENV}, database_url=database_url
    ) as running:
        await running.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        await running.add_product("amazon:B08N5WRWNW", title="Kindle", price_cents=9999)
        yield running


async def ask_in_public(x: XStandin, hc: RunningHashcart, asker: dict[str, Any], url: str) -> str:
    deal = x.add_tweet(tweet("Great deal", user=BOB, urls=[url]))
    ask = tweet("#amazoncart", user=asker, in_reply_to=deal)
    assert (await x.deliver(f"{hc.url}/twitter/webhook", [ask])).status == 200
    return (await eventually(lambda: x.replies_to(ask)))[0].text


async def follow_link_as_reader(x: XStandin, hc: RunningHashcart, link: str) -> None:
    """Mallory, signed in to her own hashcart account, does whatever the link lets her do:
    confirm a token page, or sign in with X (as herself: she has no other X account) and
    confirm what that proves."""
    mallory = Visitor(hc.url)
    try:
        await mallory.sign_up("mallory")
        path = link.removeprefix(hc.url)
        page = await mallory.get(path)
        if page.status == 200:
            await mallory.post(path, {})
            return
        assert page.status == 303, page.text
        x.signin_as(MALLORY)
        async with mallory.session.get(page.headers["Location"], allow_redirects=False) as back:
            callback = back.headers["Location"]
        proven = await mallory.get(callback.removeprefix(hc.url))
        if proven.status == 303:
            await mallory.get(proven.headers["Location"])
            await mallory.post(proven.headers["Location"], {})
    finally:
        await mallory.close()


async def tokens_of(hc: RunningHashcart, user_id: str) -> list[str]:
    async with hc.hashcart.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(link_tokens.c.token).where(link_tokens.c.user_id == user_id)
        )
        return list(rows.scalars())


async def test_a_reader_of_a_public_x_reply_cannot_link_the_askers_identity_to_their_cart(
    x: XStandin, hc: RunningHashcart
) -> None:
    answer = await ask_in_public(x, hc, ALICE, ECHO)
    link = LINK_URL.search(answer)
    assert link is not None, answer

    await follow_link_as_reader(x, hc, link.group(0))

    # Whatever the reader did, Alice is not linked to her cart, and Alice's next add is hers.
    found = await hc.hashcart.accounts.find(name="mallory")
    assert ALICE["id_str"] not in [i["user_id"] for i in found[0]["identities"]]
    assert await hc.cart("twitter", ALICE["id_str"]) is None
    # The public answer held no token, only the page where people prove who they are.
    assert TOKEN_URL.search(answer) is None, answer
    assert link.group(0) == f"{hc.url}/link/twitter"
    assert await tokens_of(hc, ALICE["id_str"]) == []
    again = await ask_in_public(x, hc, ALICE, KINDLE)
    assert f"{hc.url}/link/twitter" in again
    assert await hc.cart("twitter", ALICE["id_str"]) is None


@pytest.mark.parametrize("private", [False, True])
async def test_the_applier_puts_a_token_only_into_a_private_answer(
    database_url: str, private: bool
) -> None:
    async with running_hashcart(env=SESSION_ENV, database_url=database_url) as hc:
        await hc.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        for action, event_id in ((Action.ADD, "e1"), (Action.LINK, "e2")):
            command = CartCommand(
                platform="echo",
                user_id="u-1",
                action=action,
                event_id=event_id,
                reply_to=ReplyTarget("echo", user="u-1", channel="thread-1", private=private),
                reference=ECHO if action is Action.ADD else None,
            )
            outcome = await hc.hashcart.submit(command)
            assert outcome.code in (OutcomeCode.LINK_NEEDED, OutcomeCode.LINK_SENT)
            link_url = str(outcome.params["link_url"])
            if private:
                assert TOKEN_URL.search(link_url), link_url
            else:
                assert link_url == f"{hc.url}/link/echo"
        assert len(await tokens_of(hc, "u-1")) == (2 if private else 0)
        # The add waits for the link either way, to be applied once the identity is linked.
        await hc.link("someone", "echo", "u-1")
        assert await hc.cart("echo", "u-1") is not None


async def test_an_x_dm_still_carries_a_working_token(x: XStandin, hc: RunningHashcart) -> None:
    dm = direct_message("#amazoncart", sender=ALICE, urls=[ECHO])
    payload = dm_delivery([dm], users=[ALICE, x.bot])
    assert (await x.deliver(f"{hc.url}/twitter/webhook", payload=payload)).status == 200
    answer = (await eventually(lambda: x.dms_to(ALICE)))[0].text
    token = TOKEN_URL.search(answer)
    assert token is not None, answer

    alice = Visitor(hc.url)
    try:
        await alice.sign_up("alice")
        page = await alice.get(f"/link/{token.group(1)}")
        assert page.status == 200 and "@alice" in page.text
        assert (await alice.post(f"/link/{token.group(1)}", {})).status == 303
    finally:
        await alice.close()
    cart = await hc.cart("twitter", ALICE["id_str"])
    assert cart is not None and [i["product_id"] for i in cart] == ["amazon:B00X4WHP5E"]


async def test_a_protected_x_account_gets_its_token_by_dm_and_none_in_public(
    x: XStandin, hc: RunningHashcart
) -> None:
    carol = user("carol", "5120691", protected=True)
    deal = x.add_tweet(tweet("Great deal", user=BOB, urls=[ECHO]))
    ask = tweet("#amazoncart", user=carol, in_reply_to=deal)
    assert (await x.deliver(f"{hc.url}/twitter/webhook", [ask])).status == 200
    answer = (await eventually(lambda: x.dms_to(carol)))[0].text
    assert TOKEN_URL.search(answer) is not None, answer
    assert x.replies_to(ask) == []


async def test_a_slack_answer_at_response_url_carries_a_working_token(database_url: str) -> None:
    async with SlackStandin() as slack:
        env = {
            **SESSION_ENV,
            "HASHCART_SLACK_SIGNING_SECRET": slack.signing_secret,
            "HASHCART_SLACK_BOT_TOKEN": slack.bot_token,
            "HASHCART_SLACK_API_URL": slack.api_url,
        }
        async with running_hashcart(
            plugins=[hashcart_slack], env=env, database_url=database_url
        ) as hc:
            await hc.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
            delivery = await slack.slash_command(
                f"{hc.url}/slack/events", f"add <{ECHO}>", user_id="U0DAVE"
            )
            answer = (await eventually(lambda: slack.responses_to(delivery.response_url)))[0]
            assert answer.body["response_type"] == "ephemeral"
            token = TOKEN_URL.search(answer.text)
            assert token is not None, answer.text
            dave = Visitor(hc.url)
            try:
                await dave.sign_up("dave")
                await dave.get(f"/link/{token.group(1)}")
                assert (await dave.post(f"/link/{token.group(1)}", {})).status == 303
            finally:
                await dave.close()
            (linked,) = (await hc.hashcart.accounts.find(name="dave"))[0]["identities"]
            assert linked["platform"] == "slack"
            assert await hc.cart("slack", linked["user_id"]) is not None


async def test_a_public_mastodon_reply_carries_no_token(database_url: str) -> None:
    async with (
        MastodonStandin() as mastodon,
        running_hashcart(
            plugins=[hashcart_mastodon],
            env={**SESSION_ENV, **mastodon.env()},
            database_url=database_url,
        ) as hc,
    ):
        await hc.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        platform = hc.hashcart.platforms["mastodon"]
        assert isinstance(platform, hashcart_mastodon.MastodonPlatform)
        await eventually(platform.listener.connected.is_set)
        alice, bob = mastodon.add_account("alice"), mastodon.add_account("bob")
        product = mastodon.post(bob, "Look", urls=[ECHO])
        ask = mastodon.post(alice, "@hashcart #amazoncart", in_reply_to=product)
        reply = (await eventually(lambda: mastodon.replies_to(ask)))[0]
        assert reply.visibility == "public"
        assert TOKEN_URL.search(reply.text) is None, reply.text
        assert f"{hc.url}/link/mastodon" in reply.text
        assert await tokens_of(hc, alice.id) == []
