"""The Slack plugin end to end: signed requests into the real Bolt app, answers at the stand-in.

Every test drives hashcart over real HTTP with real v0 signatures (the stand-in signs), and reads
the answers where Slack would receive them: the command's `response_url` or chat.postEphemeral.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import hashcart_slack
from hashcart.testing import RunningHashcart, TakesOrders, eventually, running_hashcart
from hashcart_slack.testing import (
    ResponsePost,
    SlackStandin,
    message_event,
    reaction_event,
    url_verification,
)

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"
KINDLE = "https://www.amazon.com/dp/B08N5WRWNW"
ALICE = "U0ALICE"
TEAM = "T0001"  # the stand-in's workspace


def ident(user_id: str) -> str:
    """How hashcart keys a Slack person: team and user."""
    return f"{TEAM}:{user_id}"


def slack_link(url: str) -> str:
    """How Slack writes a pasted link in message and command text."""
    return f"<{url}|{url.removeprefix('https://')}>"


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        yield standin


@pytest.fixture
async def hc(slack: SlackStandin) -> AsyncIterator[RunningHashcart]:
    env = {
        "HASHCART_SLACK_SIGNING_SECRET": slack.signing_secret,
        "HASHCART_SLACK_BOT_TOKEN": slack.bot_token,
        "HASHCART_SLACK_API_URL": slack.api_url,
    }
    # A store that takes orders: without one, checkout hands the cart off to Amazon instead.
    async with running_hashcart(plugins=[hashcart_slack, TakesOrders()], env=env) as running:
        await running.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        await running.add_product("amazon:B08N5WRWNW", title="Kindle", price_cents=9999)
        yield running


@pytest.fixture
async def alice(hc: RunningHashcart) -> str:
    return await hc.link("alice", "slack", ident(ALICE))


def events_url(hc: RunningHashcart) -> str:
    return f"{hc.url}/slack/events"


async def cart_command(
    hc: RunningHashcart, slack: SlackStandin, text: str, **kwargs: Any
) -> ResponsePost:
    """Type `/cart <text>`; check the empty ack; return the one answer at response_url."""
    delivery = await slack.slash_command(events_url(hc), text, **kwargs)
    assert (delivery.status, delivery.body) == (200, "")
    answers = await eventually(lambda: slack.responses_to(delivery.response_url))
    assert len(answers) == 1
    assert answers[0].body["response_type"] == "ephemeral"
    return answers[0]


async def quantities(hc: RunningHashcart, user_id: str = ALICE) -> dict[str, int]:
    items = await hc.cart("slack", ident(user_id)) or []
    return {item["product_id"]: item["quantity"] for item in items}


# ---------------------------------------------------------------------------------------------
# /cart subcommands
# ---------------------------------------------------------------------------------------------


async def test_add_with_quantity_fills_the_cart(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    answer = await cart_command(hc, slack, f"add {slack_link(ECHO)} 2")

    assert "Echo Dot" in answer.text
    assert await quantities(hc) == {"amazon:B00X4WHP5E": 2}


async def test_adding_again_raises_the_quantity_and_says_so(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    await cart_command(hc, slack, f"add {slack_link(ECHO)}")
    answer = await cart_command(hc, slack, f"add <{ECHO}>")

    assert "2" in answer.text
    assert await quantities(hc) == {"amazon:B00X4WHP5E": 2}


async def test_list_is_a_block_kit_table_with_total_and_view_cart_button(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    await cart_command(hc, slack, f"add {slack_link(ECHO)} 2")
    await cart_command(hc, slack, f"add {slack_link(KINDLE)}")

    answer = await cart_command(hc, slack, "list")

    assert "Echo Dot" in answer.text and "Kindle" in answer.text
    blocks = answer.body["blocks"]
    rendered = " ".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "2 ×` Echo Dot" in rendered and "1 ×` Kindle" in rendered
    assert "$199.97" in rendered  # 2 × 49.99 + 99.99
    button, handoff = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert button["url"] == f"{hc.url}/cart"
    assert button["text"]["text"] == "View cart"
    # The cart can be carried to Amazon's own cart: one button, the cart's items.
    assert handoff["text"]["text"] == "Continue at amazon.com"
    assert handoff["url"] == (
        "https://www.amazon.com/gp/aws/cart/add.html"
        "?ASIN.1=B00X4WHP5E&Quantity.1=2&ASIN.2=B08N5WRWNW&Quantity.2=1"
    )


async def test_remove_and_clear(hc: RunningHashcart, slack: SlackStandin, alice: str) -> None:
    await cart_command(hc, slack, f"add {slack_link(ECHO)}")
    await cart_command(hc, slack, f"add {slack_link(KINDLE)}")

    removed = await cart_command(hc, slack, f"remove {slack_link(ECHO)}")
    assert "Echo Dot" in removed.text
    assert await quantities(hc) == {"amazon:B08N5WRWNW": 1}

    await cart_command(hc, slack, "clear")
    assert await quantities(hc) == {}
    empty = await cart_command(hc, slack, "list")
    assert "empty" in empty.text


@pytest.mark.parametrize("text", ["", "help", "HELP", "frobnicate", "privacy maybe", "add x y z"])
async def test_help_for_bare_unknown_and_malformed(
    hc: RunningHashcart, slack: SlackStandin, alice: str, text: str
) -> None:
    answer = await cart_command(hc, slack, text)

    assert "/cart add" in answer.text
    assert await quantities(hc) == {}


async def test_privacy_on_and_off(hc: RunningHashcart, slack: SlackStandin, alice: str) -> None:
    on = await cart_command(hc, slack, "privacy on")
    off = await cart_command(hc, slack, "privacy off")

    assert on.text != off.text
    events = await hc.events()
    assert [e["outcome"] for e in events[:2]] == ["privacy_off", "privacy_on"]


async def test_forget_asks_first_then_erases_on_confirm(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    await cart_command(hc, slack, f"add {slack_link(ECHO)}")

    await cart_command(hc, slack, "forget")
    assert await quantities(hc) == {"amazon:B00X4WHP5E": 1}
    await cart_command(hc, slack, "forget confirm")

    assert await hc.cart("slack", ident(ALICE)) is None
    outcomes = [e["outcome"] for e in await hc.events()]
    assert "forget_asked" in outcomes


async def test_checkout_then_confirm(hc: RunningHashcart, slack: SlackStandin, alice: str) -> None:
    await cart_command(hc, slack, f"add {slack_link(ECHO)}")

    asked = await cart_command(hc, slack, "checkout")
    await cart_command(hc, slack, "confirm")

    rendered = " ".join(b["text"]["text"] for b in asked.body["blocks"] if b["type"] == "section")
    assert "1 ×` Echo Dot" in rendered and "$49.99" in rendered

    async def placed() -> bool:
        outcomes = [e["outcome"] for e in await hc.events()]
        return outcomes[:2] == ["order_placed", "checkout_asked"]

    await eventually(placed)  # the order placer settles the order just after the confirmation


async def test_link_and_unlink(hc: RunningHashcart, slack: SlackStandin) -> None:
    linked = await cart_command(hc, slack, "link", user_id="U0CAROL")
    assert f"{hc.url}/link/" in linked.text
    (button,) = [e for b in linked.body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["url"].startswith(f"{hc.url}/link/")

    await hc.link("carol", "slack", ident("U0CAROL"))
    unlinked = await cart_command(hc, slack, "unlink", user_id="U0CAROL")
    assert "no longer linked" in unlinked.text
    assert await hc.cart("slack", ident("U0CAROL")) is None


async def test_unlinked_user_gets_a_link_and_nothing_is_added(
    hc: RunningHashcart, slack: SlackStandin
) -> None:
    answer = await cart_command(hc, slack, f"add {slack_link(ECHO)}", user_id="U0DAVE")

    assert f"{hc.url}/link/" in answer.text
    assert await hc.cart("slack", ident("U0DAVE")) is None


async def test_pending_add_is_applied_after_linking_and_answered_at_the_same_place(
    hc: RunningHashcart, slack: SlackStandin
) -> None:
    first = await cart_command(hc, slack, f"add {slack_link(ECHO)}", user_id="U0FRAN")
    assert f"{hc.url}/link/" in first.text

    await hc.link("fran", "slack", ident("U0FRAN"))

    (answer,) = await eventually(
        lambda: [r for r in slack.responses if r.response_url == first.response_url][1:]
    )
    assert "Echo Dot" in answer.text
    assert await quantities(hc, "U0FRAN") == {"amazon:B00X4WHP5E": 1}


async def test_not_a_product_link_is_answered(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    answer = await cart_command(hc, slack, "add <https://example.com/blog|example.com/blog>")

    assert "not a product link" in answer.text
    assert await quantities(hc) == {}


async def test_slash_command_retry_is_applied_once(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    first = await slack.slash_command(events_url(hc), f"add {slack_link(ECHO)}")
    again = await slack.slash_command(
        events_url(hc),
        f"add {slack_link(ECHO)}",
        trigger_id=first.trigger_id,
        response_url=first.response_url,
        retry_num=1,
    )
    assert first.status == again.status == 200

    await eventually(lambda: slack.responses_to(first.response_url))
    # A later command's answer arriving proves the retry's would have arrived by now.
    await cart_command(hc, slack, "list")
    assert len(slack.responses_to(first.response_url)) == 1
    assert await quantities(hc) == {"amazon:B00X4WHP5E": 1}


# ---------------------------------------------------------------------------------------------
# Bolt's own duties: signatures, url_verification
# ---------------------------------------------------------------------------------------------


async def test_bad_signature_is_401_and_changes_nothing(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    delivery = await slack.slash_command(
        events_url(hc), f"add {slack_link(ECHO)}", secret="not-the-secret"
    )

    assert delivery.status == 401
    assert delivery.json() == {"error": "invalid request"}
    assert await hc.events() == []
    assert slack.responses == []


async def test_tampered_body_is_401(hc: RunningHashcart, slack: SlackStandin) -> None:
    body = url_verification("challenge-1")
    signed = await slack.deliver(events_url(hc), body, content_type="application/json")
    assert signed.status == 200
    forged = await slack.deliver(
        events_url(hc),
        body.replace(b"challenge-1", b"challenge-2"),
        content_type="application/json",
        signature=signed.headers.get("X-Slack-Signature", "v0=" + "0" * 64),
    )
    assert forged.status == 401


async def test_stale_timestamp_is_401(hc: RunningHashcart, slack: SlackStandin, alice: str) -> None:
    delivery = await slack.slash_command(
        events_url(hc), f"add {slack_link(ECHO)}", timestamp=int(time.time()) - 6 * 60
    )

    assert delivery.status == 401
    assert await hc.events() == []


async def test_url_verification_echoes_the_challenge(
    hc: RunningHashcart, slack: SlackStandin
) -> None:
    delivery = await slack.deliver(
        events_url(hc),
        url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"),
        content_type="application/json",
    )

    assert delivery.status == 200
    assert delivery.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


# ---------------------------------------------------------------------------------------------
# Events API: channel messages with the hashtag, reactions
# ---------------------------------------------------------------------------------------------


async def test_hashtag_message_adds_for_the_poster_and_answers_ephemerally(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    event = message_event(f"want this #AmazonCart {slack_link(ECHO)}", channel="C0DEALS")

    delivery = await slack.send_event(events_url(hc), event)

    assert delivery.status == 200
    (answer,) = await eventually(lambda: slack.ephemerals)
    assert (answer["channel"], answer["user"]) == ("C0DEALS", ALICE)
    assert "Echo Dot" in answer["text"]
    assert await quantities(hc) == {"amazon:B00X4WHP5E": 1}


async def test_messages_that_are_not_commands_are_ignored(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    ignored = [
        message_event(f"no hashtag here {slack_link(ECHO)}"),
        message_event("#amazoncart but no link at all"),
        message_event(f"#amazoncartography {slack_link(ECHO)}"),
        message_event(f"#amazoncart {slack_link(ECHO)}", user="U0BOTUSER", bot_id="B0OTHER"),
        message_event(f"#amazoncart {slack_link(ECHO)}", user=None, subtype="bot_message"),
        message_event(f"#amazoncart {slack_link(ECHO)}", subtype="message_changed"),
        message_event(
            f"#amazoncart {slack_link(ECHO)}", user=slack.bot_user_id, bot_id=slack.bot_id
        ),
    ]
    for event in ignored:
        assert (await slack.send_event(events_url(hc), event)).status == 200

    await slack.send_event(events_url(hc), message_event(f"#amazoncart {slack_link(KINDLE)}"))

    (answer,) = await eventually(lambda: slack.ephemerals)
    assert "Kindle" in answer["text"]
    assert len(await hc.events()) == 1
    assert await quantities(hc) == {"amazon:B08N5WRWNW": 1}


async def test_message_picks_the_product_among_several_links(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    text = f"#amazoncart review <https://example.com/review> of {slack_link(KINDLE)}"
    await slack.send_event(events_url(hc), message_event(text, thread_ts="1700000000.000100"))

    (answer,) = await eventually(lambda: slack.ephemerals)
    assert answer["thread_ts"] == "1700000000.000100"
    assert await quantities(hc) == {"amazon:B08N5WRWNW": 1}


async def test_event_retry_is_applied_once(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    event = message_event(f"#amazoncart {slack_link(ECHO)}")
    first = await slack.send_event(events_url(hc), event)
    for attempt in (1, 2, 3):
        retry = await slack.send_event(
            events_url(hc), event, event_id=first.event_id, retry_num=attempt
        )
        assert retry.status == 200

    await eventually(lambda: slack.ephemerals)
    await cart_command(hc, slack, "list")
    assert len(slack.ephemerals) == 1
    assert await quantities(hc) == {"amazon:B00X4WHP5E": 1}


async def test_reaction_adds_and_removing_it_takes_it_back(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    posted = slack.add_message("C0DEALS", f"look at this {slack_link(ECHO)}", user="U0BOB")

    added = await slack.send_event(
        events_url(hc), reaction_event(channel="C0DEALS", ts=posted["ts"])
    )
    assert added.status == 200
    await eventually(lambda: len(slack.ephemerals) == 1)
    assert await quantities(hc) == {"amazon:B00X4WHP5E": 1}

    await slack.send_event(
        events_url(hc), reaction_event(channel="C0DEALS", ts=posted["ts"], removed=True)
    )
    await eventually(lambda: len(slack.ephemerals) == 2)
    assert await quantities(hc) == {}
    history = slack.calls_to("conversations.history")
    assert history[0].params["latest"] == posted["ts"]
    assert history[0].params["inclusive"] in ("1", "true", True)


async def test_reaction_on_a_thread_reply_finds_the_message(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    parent = slack.add_message("C0DEALS", "what should I buy?")
    reply = slack.add_message(
        "C0DEALS", f"this {slack_link(KINDLE)}", user="U0BOB", thread_ts=parent["ts"]
    )

    await slack.send_event(events_url(hc), reaction_event(channel="C0DEALS", ts=reply["ts"]))

    (answer,) = await eventually(lambda: slack.ephemerals)
    assert answer["thread_ts"] == parent["ts"]
    assert await quantities(hc) == {"amazon:B08N5WRWNW": 1}


async def test_other_reactions_and_link_less_messages_are_ignored(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    with_link = slack.add_message("C0DEALS", f"nice {slack_link(ECHO)}")
    without = slack.add_message("C0DEALS", "good morning")
    for event in (
        reaction_event(channel="C0DEALS", ts=with_link["ts"], reaction="thumbsup"),
        reaction_event(channel="C0DEALS", ts=without["ts"]),
    ):
        assert (await slack.send_event(events_url(hc), event)).status == 200

    skin_tone = reaction_event(
        channel="C0DEALS", ts=with_link["ts"], reaction="shopping_trolley::skin-tone-2"
    )
    await slack.send_event(events_url(hc), skin_tone)
    await eventually(lambda: slack.ephemerals)
    assert len(await hc.events()) == 1


async def test_reaction_fetch_failure_asks_slack_to_retry(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    posted = slack.add_message("C0DEALS", f"look {slack_link(ECHO)}")
    event = reaction_event(channel="C0DEALS", ts=posted["ts"])
    slack.fail("conversations.history", status=500)

    failed = await slack.send_event(events_url(hc), event)
    assert failed.status >= 500
    assert await hc.events() == []

    retried = await slack.send_event(events_url(hc), event, event_id=failed.event_id, retry_num=1)
    assert retried.status == 200
    await eventually(lambda: slack.ephemerals)
    assert await quantities(hc) == {"amazon:B00X4WHP5E": 1}


# ---------------------------------------------------------------------------------------------
# Slack answering 429 / 500: the outbox retries, honouring Retry-After
# ---------------------------------------------------------------------------------------------


async def test_post_ephemeral_429_is_retried_after_retry_after(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    slack.fail("chat.postEphemeral", status=429, retry_after=1)

    await slack.send_event(events_url(hc), message_event(f"#amazoncart {slack_link(ECHO)}"))

    (answer,) = await eventually(lambda: slack.ephemerals, timeout=10)
    attempts = [c for c in slack.calls if c.method == "chat.postEphemeral"]
    assert [c.status for c in attempts] == [429, 200]
    assert "Echo Dot" in answer["text"]


async def test_post_ephemeral_500_is_retried(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    slack.fail("chat.postEphemeral", status=500, times=2)

    await slack.send_event(events_url(hc), message_event(f"#amazoncart {slack_link(ECHO)}"))

    await eventually(lambda: slack.ephemerals, timeout=10)
    attempts = [c.status for c in slack.calls if c.method == "chat.postEphemeral"]
    assert attempts == [500, 500, 200]


async def test_response_url_429_and_500_then_recovery(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    slack.fail("response_url", status=429, retry_after=1)
    slack.fail("response_url", status=500)

    delivery = await slack.slash_command(events_url(hc), f"add {slack_link(ECHO)}")

    assert (delivery.status, delivery.body) == (200, "")
    (answer,) = await eventually(lambda: slack.responses_to(delivery.response_url), timeout=10)
    assert "Echo Dot" in answer.text
    assert await quantities(hc) == {"amazon:B00X4WHP5E": 1}


async def test_refused_reply_is_not_retried(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    slack.fail("chat.postEphemeral", status=200, error="user_not_in_channel")

    await slack.send_event(events_url(hc), message_event(f"#amazoncart {slack_link(ECHO)}"))

    await eventually(lambda: [c for c in slack.calls if c.method == "chat.postEphemeral"])
    await cart_command(hc, slack, "list")
    assert len([c for c in slack.calls if c.method == "chat.postEphemeral"]) == 1


# ---------------------------------------------------------------------------------------------
# The database down
# ---------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database_down(hc: RunningHashcart) -> AsyncIterator[None]:
    from hashcart.store import create_engine  # the test reaches into the core to break the DB

    applier: Any = hc.hashcart.applier
    working = applier._engine
    applier._engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        yield
    finally:
        await applier._engine.dispose()
        applier._engine = working


async def test_event_while_the_database_is_down_gets_503_and_the_retry_applies_once(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    event = message_event(f"#amazoncart {slack_link(ECHO)}")
    async with database_down(hc):
        down = await slack.send_event(events_url(hc), event)
    assert down.status == 503

    retry = await slack.send_event(events_url(hc), event, event_id=down.event_id, retry_num=1)
    assert retry.status == 200
    (answer,) = await eventually(lambda: slack.ephemerals)
    assert "Echo Dot" in answer["text"]
    assert await quantities(hc) == {"amazon:B00X4WHP5E": 1}


async def test_slash_command_while_the_database_is_down_is_not_acknowledged(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    """Slack never redelivers a slash command: a 200 would promise an add that is not there."""
    async with database_down(hc):
        delivery = await slack.slash_command(events_url(hc), f"add {slack_link(ECHO)}")
    assert delivery.status == 503
    assert delivery.json()["error"]["code"] == "not_recorded"
    assert "try again" in delivery.json()["error"]["message"]

    await asyncio.sleep(0.5)
    assert slack.responses_to(delivery.response_url) == []
    assert await quantities(hc) == {}


# ---------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------


async def test_doctor_checks_auth_and_scopes(hc: RunningHashcart, slack: SlackStandin) -> None:
    rows = await hashcart_slack.hashcart_doctor(hc.hashcart)
    assert all(ok for _, ok, _ in rows), rows

    slack.scopes.remove("reactions:read")
    rows = await hashcart_slack.hashcart_doctor(hc.hashcart)
    assert ("slack: scopes", False, "missing reactions:read") in rows


async def test_language_words_the_answers_and_auto_gives_the_platform_back(
    hc: RunningHashcart, slack: SlackStandin, alice: str
) -> None:
    assert "Deutsch" in (await cart_command(hc, slack, "language DE")).text
    assert "Dein Warenkorb ist leer" in (await cart_command(hc, slack, "list")).text
    assert (await hc.hashcart.accounts.get(alice))["language"] == "de"

    refused = await cart_command(hc, slack, "language klingon")
    assert "„klingon“" in refused.text and "de (Deutsch), en (English)" in refused.text
    assert (await hc.hashcart.accounts.get(alice))["language"] == "de"

    assert "platform's language" in (await cart_command(hc, slack, "language auto")).text
    assert "Your cart is empty" in (await cart_command(hc, slack, "list")).text
    assert (await hc.hashcart.accounts.get(alice))["language"] is None


async def test_language_without_an_account_asks_to_link_first(
    hc: RunningHashcart, slack: SlackStandin
) -> None:
    answer = await cart_command(hc, slack, "language de")
    assert "/link/" in answer.text
    events = await hc.events()
    assert events[0]["outcome"] == "link_needed"
