"""X beyond links: barcodes, `#checkout`/`#confirm`, `forget` and `privacy` (issues 9 and 10).

Signed deliveries go into a running hashcart; answers are read where the user would see them:
reply tweets and DMs at the X stand-in, the cart and the orders.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import hashcart_twitter
from hashcart import Action
from hashcart.i18n import translate
from hashcart.testing import RunningHashcart, TakesOrders, eventually, running_hashcart
from hashcart_twitter.normalize import Rules, trigger_from_v1, trigger_from_v2
from hashcart_twitter.testing import (
    BOT_USER_ID,
    XStandin,
    delivery,
    direct_message,
    dm_delivery,
    to_v2,
    tweet,
    user,
)
from hashcart_twitter.wording import x_commands

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"
KINDLE = "https://www.amazon.com/dp/B08N5WRWNW"
TV = "https://www.amazon.com/dp/B0C1TV0001"
BOOK_ISBN13 = "9780316769488"  # its ISBN-10 (and so its ASIN) is 0316769487
ALICE = user("alice", "6253282")
BOB = user("bob", "783214")


@pytest.fixture
async def x() -> AsyncIterator[XStandin]:
    async with XStandin() as standin:
        yield standin


@contextlib.asynccontextmanager
async def started(x: XStandin) -> AsyncIterator[RunningHashcart]:
    # A store that takes orders: without one, checkout hands the cart off to Amazon instead.
    plugins = [hashcart_twitter, TakesOrders()]
    async with running_hashcart(plugins=plugins, env=x.env()) as running:
        await running.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        await running.add_product("amazon:B08N5WRWNW", title="Kindle", price_cents=9999)
        await running.add_product("amazon:B0C1TV0001", title="Big TV", price_cents=89_900)
        await running.add_product(
            "amazon:0316769487", title="The Catcher in the Rye", price_cents=899
        )
        yield running


@pytest.fixture
async def hc(x: XStandin) -> AsyncIterator[RunningHashcart]:
    async with started(x) as running:
        yield running


@pytest.fixture
async def alice(hc: RunningHashcart) -> str:
    return await hc.link("alice", "twitter", ALICE["id_str"])


async def send(x: XStandin, hc: RunningHashcart, *tweets: dict[str, Any]) -> dict[str, Any]:
    answer = await x.deliver(f"{hc.url}/twitter/webhook", list(tweets))
    assert answer.status == 200, answer.body
    result: dict[str, Any] = answer.json()
    return result


async def dm_after(x: XStandin, who: dict[str, Any], seen: int) -> str:
    """The text of `who`'s next DM once it arrives (the one after the first `seen`)."""
    await eventually(lambda: len(x.dms_to(who)) > seen)
    return x.dms_to(who)[seen].text


async def cart_ids(hc: RunningHashcart, who: dict[str, Any]) -> dict[str, int]:
    items = await hc.cart("twitter", who["id_str"]) or []
    return {item["product_id"]: item["quantity"] for item in items}


def to_bot(text: str, who: dict[str, Any] = ALICE) -> dict[str, Any]:
    """A tweet that @mentions the bot."""
    return tweet(f"@hashcart {text}", user=who)


# ---------------------------------------------------------------------------------------------
# Barcodes
# ---------------------------------------------------------------------------------------------


async def test_an_isbn_barcode_adds_the_book(x: XStandin, hc: RunningHashcart, alice: str) -> None:
    ask = tweet(f"#amazoncart {BOOK_ISBN13}", user=ALICE)
    assert await send(x, hc, ask) == {"handled": 1}
    assert await cart_ids(hc, ALICE) == {"amazon:0316769487": 1}
    posted = await eventually(lambda: x.replies_to(ask))
    assert len(posted) == 1 and "The Catcher in the Rye" in posted[0].text


async def test_a_wrong_check_digit_is_answered_as_not_a_valid_barcode(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    ask = tweet("#amazoncart 9780316769489", user=ALICE)
    await send(x, hc, ask)
    posted = await eventually(lambda: x.replies_to(ask))
    assert "not a valid barcode" in posted[0].text
    assert await cart_ids(hc, ALICE) == {}


async def test_a_product_link_wins_over_a_barcode(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    own = tweet(f"#amazoncart {BOOK_ISBN13}", user=ALICE, urls=[ECHO])
    await send(x, hc, own)
    parent = x.add_tweet(tweet("Reading this", user=BOB, urls=[KINDLE]))
    in_reach = tweet(f"#amazoncart {BOOK_ISBN13}", user=ALICE, in_reply_to=parent)
    await send(x, hc, in_reach)
    assert await cart_ids(hc, ALICE) == {"amazon:B00X4WHP5E": 1, "amazon:B08N5WRWNW": 1}
    await eventually(lambda: x.replies_to(own) and x.replies_to(in_reach))


# ---------------------------------------------------------------------------------------------
# Checkout and confirm
# ---------------------------------------------------------------------------------------------


async def test_checkout_then_confirm_places_one_order_even_when_confirmed_twice(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    await send(x, hc, tweet("#amazoncart", user=ALICE, urls=[ECHO]))
    await send(x, hc, tweet("#amazoncart", user=ALICE, urls=[KINDLE]))
    checkout = to_bot("#checkout please")
    await send(x, hc, checkout)
    asked = await dm_after(x, ALICE, 0)
    assert "Echo Dot" in asked and "$149.98" in asked
    assert "@hashcart #confirm" in asked and "/cart" not in asked
    assert x.replies_to(checkout) == []  # about money: never in public

    await send(x, hc, to_bot("#confirm"))
    placed = await dm_after(x, ALICE, 1)
    assert "Order placed" in placed
    await send(x, hc, to_bot("#confirm yes really"))
    assert "nothing to confirm" in await dm_after(x, ALICE, 2)

    orders = await hc.hashcart.accounts.orders(alice)
    assert len(orders) == 1 and orders[0]["total_cents"] == 14_998
    assert await cart_ids(hc, ALICE) == {}


async def test_a_confirm_replying_to_the_bots_tweet_counts(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    first = tweet("#amazoncart", user=ALICE, urls=[ECHO])
    await send(x, hc, first)
    answer = (await eventually(lambda: x.replies_to(first)))[0]
    await send(x, hc, to_bot("#checkout"))
    await dm_after(x, ALICE, 0)
    confirm = tweet("#confirm", user=ALICE, in_reply_to=x.tweets[answer.id])
    confirm["entities"]["user_mentions"] = []  # a reply needs no @mention to reach the bot
    await send(x, hc, confirm)
    assert "Order placed" in await dm_after(x, ALICE, 1)
    assert len(await hc.hashcart.accounts.orders(alice)) == 1


async def test_confirm_by_dm_answers_the_dm_and_a_redelivery_orders_nothing_more(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    await send(x, hc, tweet("#amazoncart", user=ALICE, urls=[ECHO]))
    await send(x, hc, to_bot("#checkout"))
    await dm_after(x, ALICE, 0)
    confirm = dm_delivery([direct_message("#confirm", sender=ALICE)], users=[ALICE, x.bot])
    body = json.dumps(confirm).encode()
    first = await x.deliver(f"{hc.url}/twitter/webhook", body=body)
    assert first.status == 200 and first.json() == {"handled": 1}
    assert "Order placed" in await dm_after(x, ALICE, 1)
    assert (await x.deliver(f"{hc.url}/twitter/webhook", body=body)).status == 200
    await send(x, hc, to_bot("#checkout"))  # the cart is empty now: one more DM, no order
    await dm_after(x, ALICE, 2)
    assert len(x.dms_to(ALICE)) == 3
    assert len(await hc.hashcart.accounts.orders(alice)) == 1


async def test_the_bots_own_dms_and_chatter_are_not_commands(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    messages = [
        direct_message("#confirm", sender=x.bot, recipient_id=ALICE["id_str"]),
        direct_message("hello there", sender=ALICE),
        {"type": "something_else", "id": "1"},
    ]
    payload = dm_delivery(messages, users=[ALICE, x.bot])
    answer = await x.deliver(f"{hc.url}/twitter/webhook", payload=payload)
    assert answer.status == 200 and answer.json() == {"handled": 0}
    linked = dm_delivery([direct_message("#amazoncart", sender=ALICE, urls=[KINDLE])], users=[])
    assert (await x.deliver(f"{hc.url}/twitter/webhook", payload=linked)).json() == {"handled": 1}
    assert "Kindle" in await dm_after(x, ALICE, 0)
    assert x.posted == [] and await cart_ids(hc, ALICE) == {"amazon:B08N5WRWNW": 1}


async def test_a_cart_changed_between_checkout_and_confirm_orders_nothing(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    await send(x, hc, tweet("#amazoncart", user=ALICE, urls=[ECHO]))
    await send(x, hc, to_bot("#checkout"))
    await dm_after(x, ALICE, 0)
    more = tweet("#amazoncart", user=ALICE, urls=[KINDLE])
    await send(x, hc, more)
    await eventually(lambda: x.replies_to(more))
    await send(x, hc, to_bot("#confirm"))
    assert "changed" in await dm_after(x, ALICE, 1)
    assert await hc.hashcart.accounts.orders(alice) == []
    assert await cart_ids(hc, ALICE) == {"amazon:B00X4WHP5E": 1, "amazon:B08N5WRWNW": 1}


async def test_checkout_and_confirm_not_addressed_to_the_bot_are_ignored(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    await send(x, hc, tweet("#amazoncart", user=ALICE, urls=[ECHO]))
    other = x.add_tweet(tweet("my shop", user=BOB))
    stray = [
        tweet("Finally at the #checkout", user=ALICE),
        tweet("#confirm", user=ALICE),
        tweet("#checkout @bob", user=ALICE),
        tweet("#confirm", user=ALICE, in_reply_to=other),
    ]
    assert await send(x, hc, *stray) == {"handled": 0}


async def test_a_large_add_asks_first_and_confirm_adds_it(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    ask = tweet("#amazoncart", user=ALICE, urls=[TV])
    await send(x, hc, ask)
    asked = (await eventually(lambda: x.replies_to(ask)))[0]
    assert "Big TV" in asked.text and "@hashcart #confirm" in asked.text
    assert await cart_ids(hc, ALICE) == {}
    confirm = tweet("#confirm", user=ALICE, in_reply_to=x.tweets[asked.id])
    await send(x, hc, confirm)
    assert await cart_ids(hc, ALICE) == {"amazon:B0C1TV0001": 1}
    assert "Big TV" in await dm_after(x, ALICE, 0)
    assert await hc.hashcart.accounts.orders(alice) == []  # an add, not an order


# ---------------------------------------------------------------------------------------------
# Forget and privacy
# ---------------------------------------------------------------------------------------------


async def test_forget_then_confirm_deletes_the_account_and_an_old_tweet_changes_nothing(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    old = tweet("#amazoncart", user=ALICE, urls=[ECHO])
    old_body = json.dumps(delivery([x.add_tweet(old)])).encode()
    assert (await x.deliver(f"{hc.url}/twitter/webhook", body=old_body)).status == 200
    await eventually(lambda: x.replies_to(old))

    forget = tweet("#amazoncart forget", user=ALICE)
    await send(x, hc, forget)
    asked = await dm_after(x, ALICE, 0)
    assert "#amazoncart forget confirm" in asked and "/cart" not in asked
    assert await cart_ids(hc, ALICE) == {"amazon:B00X4WHP5E": 1}  # asking deletes nothing

    await send(x, hc, tweet("#AmazonCart Forget Confirm", user=ALICE))
    assert "deleted" in await dm_after(x, ALICE, 1)
    assert await hc.cart("twitter", ALICE["id_str"]) is None
    with pytest.raises(Exception, match="no account"):
        await hc.hashcart.accounts.get(alice)

    assert (await x.deliver(f"{hc.url}/twitter/webhook", body=old_body)).status == 200
    sentinel = tweet("#amazoncart", user=BOB, urls=[KINDLE])
    await send(x, hc, sentinel)
    await eventually(lambda: x.replies_to(sentinel))
    assert len(x.replies_to(old)) == 1 and len(x.dms_to(ALICE)) == 2
    assert await hc.cart("twitter", ALICE["id_str"]) is None
    assert x.replies_to(forget) == []


async def test_forget_confirm_without_asking_first_deletes_nothing(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    await send(x, hc, tweet("#amazoncart forget confirm", user=ALICE))
    assert "nothing to confirm" in await dm_after(x, ALICE, 0)
    assert (await hc.hashcart.accounts.get(alice))["id"] == alice


async def test_privacy_on_turns_the_next_answers_into_dms(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    switch = tweet("#amazoncart privacy on", user=ALICE)
    await send(x, hc, switch)
    assert "direct message" in await dm_after(x, ALICE, 0)
    ask = tweet("#amazoncart", user=ALICE, urls=[ECHO])
    await send(x, hc, ask)
    assert "Echo Dot" in await dm_after(x, ALICE, 1)
    assert x.posted == []

    await send(x, hc, tweet("#amazoncart privacy off", user=ALICE))
    await dm_after(x, ALICE, 2)
    again = tweet("#amazoncart", user=ALICE, urls=[KINDLE])
    await send(x, hc, again)
    assert "Kindle" in (await eventually(lambda: x.replies_to(again)))[0].text


# ---------------------------------------------------------------------------------------------
# Reading tweets (no server): v1.1 and v2 agree
# ---------------------------------------------------------------------------------------------

RULES = Rules(hashtag="amazoncart", ignores=lambda uid: uid == BOT_USER_ID, bot_user_id=BOT_USER_ID)


def _read_both(v1: dict[str, Any]) -> list[tuple[Action, str | None, tuple[str, ...], bool]]:
    envelope = {"data": to_v2(v1), "includes": {"users": []}}
    found = []
    for trigger in (trigger_from_v1(v1, RULES), trigger_from_v2(envelope, RULES)):
        assert trigger is not None
        command = trigger.command(None)
        found.append((command.action, command.argument, trigger.barcodes, command.reply_to.private))
    return found


@pytest.mark.parametrize(
    ("text", "action", "argument", "private"),
    [
        ("#amazoncart forget", Action.FORGET, None, True),
        ("#amazoncart forget confirm", Action.FORGET, "confirm", True),
        ("#amazoncart forget it", Action.FORGET, None, True),
        ("#AMAZONCART privacy ON", Action.PRIVACY, "on", True),
        ("#amazoncart privacy off", Action.PRIVACY, "off", True),
        ("#amazoncart privacy", Action.PRIVACY, None, True),
        ("#amazoncart language de", Action.LANGUAGE, "de", False),
        ("#amazoncart Language DE-at", Action.LANGUAGE, "de-at", False),
        ("#amazoncart language", Action.LANGUAGE, None, False),
        ("@hashcart #checkout", Action.CHECKOUT, None, True),
        ("@hashcart #confirm", Action.CONFIRM, None, True),
        ("@hashcart #checkout #confirm", Action.CHECKOUT, None, True),  # never both at once
        ("@hashcart #amazoncart #checkout", Action.CHECKOUT, None, True),
        ("#amazoncart I forget", Action.ADD, None, False),
        ("#amazoncart", Action.ADD, None, False),
    ],
)
def test_verbs_are_read_alike_from_v1_and_v2(
    text: str, action: Action, argument: str | None, private: bool
) -> None:
    expected = (action, argument, (), private)
    assert _read_both(tweet(text, user=ALICE)) == [expected, expected]


def test_barcodes_come_from_the_words_not_from_handles_or_links() -> None:
    v1 = tweet("#amazoncart @978031676948 0885909950805 and 9780316769488", user=ALICE)
    v1["entities"]["urls"] = []
    v1["text"] += " https://example.com/9780316769488"
    read = _read_both(v1)
    assert [barcodes for _, _, barcodes, _ in read] == [("0885909950805", "9780316769488")] * 2


def test_without_a_bot_user_id_checkout_is_not_a_command() -> None:
    rules = Rules(hashtag="amazoncart", ignores=lambda uid: False)
    assert trigger_from_v1(tweet("@hashcart #checkout", user=ALICE), rules) is None


def test_x_wording_names_the_tweet_to_send() -> None:
    text = translate("en", "reply.forget_asked", **x_commands("amazoncart", "hashcart"))
    assert "Send #amazoncart forget confirm within" in text
    asked = translate("de", "reply.checkout_asked", **x_commands("amazoncart", "hashcart"))
    assert "@hashcart #confirm, um sie aufzugeben" in asked
    assert "/cart" not in asked
    assert x_commands("amazoncart")["confirm_command"] == "#confirm"


async def test_checkout_and_confirm_arrive_over_the_stream_too() -> None:
    """In stream mode the checkout hashtags aimed at the bot have rules of their own."""
    import hashcart_twitter
    from hashcart.testing import eventually, running_hashcart
    from hashcart_twitter.testing import XStandin as Standin
    from hashcart_twitter.testing import tweet as make_tweet
    from hashcart_twitter.testing import user as make_user

    shopper = make_user("streamer")
    async with Standin(keepalive_seconds=0.1) as x:
        env = x.env(mode="stream", stream_backoff_scale="0.01", stream_stall_seconds="1")
        plugins = [hashcart_twitter, TakesOrders()]
        async with running_hashcart(plugins=plugins, env=env) as hc:
            account_id = await hc.link("streamer", "twitter", shopper["id_str"])
            await hc.add_product("amazon:B08N5WRWNW", "Kindle", 9999)
            await x.wait_for_stream()
            add = make_tweet(
                "#amazoncart", user=shopper, urls=["https://www.amazon.com/dp/B08N5WRWNW"]
            )
            await x.stream_tweet(add)
            await eventually(lambda: x.replies_to(add))
            assert await x.stream_tweet(make_tweet("@hashcart #checkout", user=shopper)) == 1
            await eventually(lambda: x.dms_to(shopper))
            assert await x.stream_tweet(make_tweet("@hashcart #confirm", user=shopper)) == 1

            async def ordered() -> bool:
                return len(await hc.hashcart.accounts.orders(account_id)) == 1

            await eventually(ordered)
            assert await x.stream_tweet(make_tweet("#checkout for my shop", user=shopper)) == 0


async def test_language_de_words_the_answers_in_german_until_language_alone(
    x: XStandin, hc: RunningHashcart, alice: str
) -> None:
    chosen = tweet("#amazoncart language de", user=ALICE)
    await send(x, hc, chosen)
    assert "Deutsch" in (await eventually(lambda: x.replies_to(chosen)))[0].text
    asking = tweet("#amazoncart help", user=ALICE)
    await send(x, hc, asking)
    assert "Antworte mit #amazoncart" in (await eventually(lambda: x.replies_to(asking)))[0].text

    unknown = tweet("#amazoncart language xx", user=ALICE)
    await send(x, hc, unknown)
    refused = (await eventually(lambda: x.replies_to(unknown)))[0].text
    assert "„xx“" in refused and "de (Deutsch), en (English)" in refused

    cleared = tweet("#amazoncart language", user=ALICE)
    await send(x, hc, cleared)
    assert "platform's language" in (await eventually(lambda: x.replies_to(cleared)))[0].text
    again = tweet("#amazoncart help", user=ALICE)
    await send(x, hc, again)
    assert "Reply #amazoncart" in (await eventually(lambda: x.replies_to(again)))[0].text
    assert (await hc.hashcart.accounts.get(alice))["language"] is None
