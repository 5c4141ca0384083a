"""A private answer that X will not deliver by DM falls back to a public reply that names no
product and carries no link token.

X refuses a DM (403) to someone who takes no messages from the bot. Every command still gets one
answer, so the bot replies in public - with the core's product-free wording, never with the
private text: that would name what a protected person buys, or hand anyone who reads the thread
the one-time link that joins the asker's X account to an account of the reader's choosing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import hashcart_twitter
from hashcart import (
    Outcome,
    OutcomeCode,
    OutgoingReply,
    ReplyContent,
    ReplyTarget,
    SendRefused,
)
from hashcart.testing import RunningHashcart, eventually, running_hashcart
from hashcart_twitter.platform import TwitterPlatform
from hashcart_twitter.testing import XStandin, direct_message, dm_delivery, tweet, user

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"
PUBLIC_WORDING = "Done — the details are in your direct messages."
ALICE = user("alice", "6253282")
CAROL = user("carol", "5120691", protected=True)
DAVE = user("dave", "7300001", protected=True)


@pytest.fixture
async def x() -> AsyncIterator[XStandin]:
    async with XStandin() as standin:
        yield standin


@pytest.fixture
async def hc(x: XStandin, database_url: str) -> AsyncIterator[RunningHashcart]:
    env = x.env()
    async with running_hashcart([hashcart_twitter], env, database_url) as running:
        await running.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        yield running


def _public_leaks(text: str, hc: RunningHashcart) -> list[str]:
    return [bit for bit in ("Echo Dot", "amazon", "/link/", hc.url) if bit in text]


async def test_closed_dms_fall_back_to_a_product_free_public_reply(
    x: XStandin, hc: RunningHashcart
) -> None:
    await hc.link("carol", "twitter", CAROL["id_str"])
    x.close_dms(CAROL)
    asking = tweet("#amazoncart", user=CAROL, urls=[ECHO])
    assert (await x.deliver(f"{hc.url}/twitter/webhook", [asking])).status == 200
    public = await eventually(lambda: x.replies_to(asking))
    assert [p.text for p in public] == [f"@carol {PUBLIC_WORDING}"]
    assert x.dms == []
    refused = x.calls_to("POST", "/2/dm_conversations/")
    assert [c.status for c in refused] == [403]
    cart = await hc.cart("twitter", CAROL["id_str"])
    assert cart is not None and cart[0]["product_id"] == "amazon:B00X4WHP5E"


async def test_closed_dms_link_token_is_not_leaked_in_the_public_fallback(
    x: XStandin, hc: RunningHashcart
) -> None:
    """Dave is not linked: his private answer holds a one-time link; his DMs are closed."""
    x.close_dms(DAVE)
    asking = tweet("#amazoncart", user=DAVE, urls=[ECHO])
    assert (await x.deliver(f"{hc.url}/twitter/webhook", [asking])).status == 200
    public = await eventually(lambda: x.replies_to(asking))
    refused = x.calls_to("POST", "/2/dm_conversations/")
    assert len(refused) == 1 and "/link/" in refused[0].body["text"]  # what the DM would say
    assert len(public) == 1
    assert _public_leaks(public[0].text, hc) == []


async def test_closed_dms_protected_parent_product_is_not_leaked_in_the_public_fallback(
    x: XStandin, hc: RunningHashcart
) -> None:
    """Alice is public but replies to Carol's protected tweet, and takes no DMs."""
    await hc.link("alice", "twitter", ALICE["id_str"])
    x.follow(CAROL)
    x.close_dms(ALICE)
    parent = x.add_tweet(tweet("for my followers only", user=CAROL, urls=[ECHO]))
    asking = tweet("#amazoncart", user=ALICE, in_reply_to=parent)
    assert (await x.deliver(f"{hc.url}/twitter/webhook", [asking])).status == 200
    public = await eventually(lambda: x.replies_to(asking))
    assert [p.text for p in public] == [f"@alice {PUBLIC_WORDING}"]
    cart = await hc.cart("twitter", ALICE["id_str"])
    assert cart is not None and cart[0]["product_id"] == "amazon:B00X4WHP5E"


async def test_a_dm_command_with_closed_dms_gets_no_public_answer(
    x: XStandin, hc: RunningHashcart
) -> None:
    """A command sent by DM has no thread to fall back to: nothing is said in public."""
    await hc.link("carol", "twitter", CAROL["id_str"])
    x.close_dms(CAROL)
    message = direct_message("#amazoncart", sender=CAROL, urls=[ECHO])
    payload = dm_delivery([message], users=[CAROL, x.bot])
    assert (await x.deliver(f"{hc.url}/twitter/webhook", payload=payload)).status == 200
    await eventually(lambda: x.calls_to("POST", "/2/dm_conversations/"))

    async def settled() -> bool:
        return all(row["status"] != "pending" for row in await hc.outbox())

    await eventually(settled, timeout=10)
    assert x.posted == [] and x.dms == []


async def test_a_public_wording_that_repeats_the_private_answer_is_not_used(
    x: XStandin, hc: RunningHashcart
) -> None:
    """Whatever the core hands over as public wording, the fallback never repeats the private
    answer's links or product title."""
    platform = hc.hashcart.platforms["twitter"]
    assert isinstance(platform, TwitterPlatform)
    asking = x.add_tweet(tweet("#amazoncart", user=CAROL, urls=[ECHO]))
    x.close_dms(CAROL)
    private = f"Link your account: {hc.url}/link/SECRET-TOKEN - Echo Dot is waiting"
    reply = OutgoingReply(
        reply_id=7,
        event_key=f"twitter:{asking['id_str']}",
        target=ReplyTarget(
            "twitter", CAROL["id_str"], asking["id_str"], True, {"screen_name": "carol"}
        ),
        content=ReplyContent(private, {"public_text": f"See {hc.url}/link/SECRET-TOKEN"}),
        outcome=Outcome(OutcomeCode.ADDED, {"title": "Echo Dot"}),
    )
    await platform.send_reply(reply)
    assert [p.text for p in x.replies_to(asking)] == [f"@carol {PUBLIC_WORDING}"]
    no_channel = OutgoingReply(
        reply_id=8,
        event_key="twitter:dm-1",
        target=ReplyTarget("twitter", CAROL["id_str"], None, True, {}),
        content=ReplyContent(private),
        outcome=Outcome(OutcomeCode.ADDED),
    )
    with pytest.raises(SendRefused):
        await platform.send_reply(no_channel)
