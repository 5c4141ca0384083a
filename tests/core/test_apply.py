"""Applying commands through the core on SQLite and PostgreSQL: each event once, one answer each."""

from __future__ import annotations

import asyncio

from hashcart import OutcomeCode, Unavailable
from hashcart.testing import RunningHashcart, eventually
from tests.core.fakes import FakePlatform, ShopPlugin, command


async def test_add_then_add_again_raises_quantity(hc: RunningHashcart, fake_platform: FakePlatform):
    await hc.link("alice", "fake", "u1")
    first = await hc.hashcart.submit(command(event_id="e1"))
    second = await hc.hashcart.submit(command(event_id="e2", quantity=2))
    assert first.code is OutcomeCode.ADDED
    assert second.code is OutcomeCode.INCREASED and second.params["quantity"] == 3
    cart = await hc.cart("fake", "u1")
    assert cart is not None
    assert [(i["product_id"], i["quantity"], i["price_cents"]) for i in cart] == [
        ("shop:SKU1", 3, 1250)
    ]
    await eventually(lambda: len(fake_platform.sent) == 2)
    assert fake_platform.sent[0].content.text.startswith("Added Blue mug to your cart")
    assert "you now have 3" in fake_platform.sent[1].content.text


async def test_redelivered_event_changes_nothing(hc: RunningHashcart, fake_platform: FakePlatform):
    await hc.link("alice", "fake", "u1")
    outcomes = [await hc.hashcart.submit(command(event_id="same")) for _ in range(3)]
    assert [o.code for o in outcomes] == [
        OutcomeCode.ADDED,
        OutcomeCode.DUPLICATE,
        OutcomeCode.DUPLICATE,
    ]
    assert outcomes[1].silent
    cart = await hc.cart("fake", "u1")
    assert cart is not None and cart[0]["quantity"] == 1
    await eventually(lambda: len(fake_platform.sent) == 1)
    await asyncio.sleep(0.2)
    assert len(fake_platform.sent) == 1
    assert len(await hc.outbox()) == 1


async def test_concurrent_duplicates_apply_once(hc: RunningHashcart, fake_platform: FakePlatform):
    await hc.link("alice", "fake", "u1")
    commands = [command(event_id=f"ev{i % 10}") for i in range(100)]
    outcomes = await asyncio.gather(*(hc.hashcart.submit(c) for c in commands))
    applied = [o for o in outcomes if o.code is not OutcomeCode.DUPLICATE]
    assert len(applied) == 10
    cart = await hc.cart("fake", "u1")
    assert cart is not None and cart[0]["quantity"] == 10
    await eventually(lambda: len(fake_platform.sent) == 10)
    assert len({r.event_key for r in fake_platform.sent}) == 10


async def test_unlinked_add_is_kept_and_applied_after_linking(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    outcome = await hc.hashcart.submit(command(event_id="before-link", user_id="newbie"))
    assert outcome.code is OutcomeCode.LINK_NEEDED
    link_url = outcome.params["link_url"]
    assert link_url.startswith(f"{hc.url}/link/")
    assert await hc.cart("fake", "newbie") is None
    await eventually(lambda: len(fake_platform.sent) == 1)
    assert link_url in fake_platform.sent[0].content.text

    await hc.link("bob", "fake", "newbie")
    cart = await hc.cart("fake", "newbie")
    assert cart is not None and cart[0]["product_id"] == "shop:SKU1"
    await eventually(lambda: len(fake_platform.sent) == 2)
    assert fake_platform.sent[1].outcome.code is OutcomeCode.PENDING_APPLIED
    # Linking again finds nothing pending: the add is applied once.
    await hc.link("bob", "fake", "newbie")
    cart = await hc.cart("fake", "newbie")
    assert cart is not None and cart[0]["quantity"] == 1


async def test_remove_list_clear(hc: RunningHashcart):
    await hc.link("alice", "fake", "u1")
    submit = hc.hashcart.submit
    await submit(command(event_id="a1", quantity=2))
    await submit(command(event_id="a2", reference="https://shop.test/p/SKU2"))
    listed = await submit(command("list", event_id="l1", reference=None))
    assert listed.code is OutcomeCode.LISTED
    assert [(line.product_id, line.quantity) for line in listed.cart] == [
        ("shop:SKU1", 2),
        ("shop:SKU2", 1),
    ]
    assert listed.params["total_cents"] == 2 * 1250 + 3999
    assert (await submit(command("remove", event_id="r1"))).code is OutcomeCode.DECREASED
    assert (await submit(command("remove", event_id="r2"))).code is OutcomeCode.REMOVED
    assert (await submit(command("remove", event_id="r3"))).code is OutcomeCode.NOT_IN_CART
    assert (
        await submit(command("clear", event_id="c1", reference=None))
    ).code is OutcomeCode.CLEARED
    assert await hc.cart("fake", "u1") == []
    empty = await submit(command("list", event_id="l2", reference=None))
    assert empty.code is OutcomeCode.CART_EMPTY


async def test_failures_are_answered_and_change_nothing(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    await hc.link("alice", "fake", "u1")
    submit = hc.hashcart.submit
    cases = {
        "https://evil.test/p/SKU1": OutcomeCode.NOT_A_PRODUCT,
        "javascript:alert(1)": OutcomeCode.NOT_A_PRODUCT,
        "https://shop.test/p/NOPE": OutcomeCode.UNKNOWN_PRODUCT,
        "https://shop.test/p/GONE": OutcomeCode.UNAVAILABLE,
        "https://shop.test/p/SKU1?" + "x" * 10_000: OutcomeCode.NOT_A_PRODUCT,
    }
    for index, (reference, expected) in enumerate(cases.items()):
        outcome = await submit(command(event_id=f"bad{index}", reference=reference))
        assert outcome.code is expected, reference[:40]
    missing = await submit(command(event_id="none", reference=None))
    assert missing.code is OutcomeCode.NO_PRODUCT_GIVEN
    assert await hc.cart("fake", "u1") == []
    await eventually(lambda: len(fake_platform.sent) == len(cases) + 1)
    texts = [reply.content.text for reply in fake_platform.sent]
    assert all(text and text.count(".") <= 2 for text in texts), texts


async def test_short_link_is_followed(hc: RunningHashcart, shop: ShopPlugin):
    await hc.link("alice", "fake", "u1")
    shop.redirects["https://sho.rt/x"] = "https://sho.rt/y"
    shop.redirects["https://sho.rt/y"] = "https://shop.test/p/SKU2"
    outcome = await hc.hashcart.submit(command(event_id="s1", reference="https://sho.rt/x"))
    assert outcome.code is OutcomeCode.ADDED and outcome.params["title"] == "Red kettle"
    shop.redirects["https://sho.rt/loop"] = "https://sho.rt/loop2"
    shop.redirects["https://sho.rt/loop2"] = "https://sho.rt/loop"
    looped = await hc.hashcart.submit(command(event_id="s2", reference="https://sho.rt/loop"))
    assert looped.code is OutcomeCode.NOT_A_PRODUCT


async def test_link_unlink_help_privacy(hc: RunningHashcart, fake_platform: FakePlatform):
    submit = hc.hashcart.submit
    linked = await submit(command("link", event_id="k1", reference=None, user_name="alice"))
    assert linked.code is OutcomeCode.LINK_SENT
    assert (await submit(command("help", event_id="h1", reference=None))).code is OutcomeCode.HELP
    assert (
        await submit(command("unlink", event_id="n1", reference=None))
    ).code is OutcomeCode.NOT_LINKED
    await hc.link("alice", "fake", "u1")
    on = await submit(command("privacy", event_id="p1", reference=None, argument="on"))
    assert on.code is OutcomeCode.PRIVACY_ON
    await submit(command(event_id="a1"))
    await eventually(lambda: any(r.event_key == "fake:a1" for r in fake_platform.sent))
    reply = next(r for r in fake_platform.sent if r.event_key == "fake:a1")
    assert reply.target.private, "privacy on: the answer must be private"
    off = await submit(command("privacy", event_id="p2", reference=None, argument="off"))
    assert off.code is OutcomeCode.PRIVACY_OFF
    assert (
        await submit(command("unlink", event_id="n2", reference=None))
    ).code is OutcomeCode.UNLINKED
    assert await hc.cart("fake", "u1") is None


async def test_rate_limit_answers_first_refusal_only(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    hc.hashcart.settings.rate_limit_per_minute = 5
    await hc.link("alice", "fake", "u1")
    outcomes = [await hc.hashcart.submit(command(event_id=f"r{i}")) for i in range(12)]
    codes = [o.code for o in outcomes]
    assert codes.count(OutcomeCode.ADDED) + codes.count(OutcomeCode.INCREASED) == 5
    refused = [o for o in outcomes if o.code is OutcomeCode.RATE_LIMITED]
    assert len(refused) == 7
    assert [o.silent for o in refused] == [False] + [True] * 6
    await eventually(lambda: len(fake_platform.sent) == 6)
    assert "try again in" in fake_platform.sent[-1].content.text


async def test_bot_commands_are_dropped_silently(hc: RunningHashcart, fake_platform: FakePlatform):
    await hc.link("alice", "fake", "u1")
    outcome = await hc.hashcart.submit(command(event_id="b1", is_bot=True))
    assert outcome.code is OutcomeCode.DENIED and outcome.silent
    assert await hc.cart("fake", "u1") == []


async def test_database_gone_raises_unavailable(hc: RunningHashcart):
    await hc.link("alice", "fake", "u1")
    await hc.hashcart.engine.dispose()
    hc.hashcart.applier._engine = _broken_engine()  # the database goes away
    try:
        await hc.hashcart.submit(command(event_id="down"))
    except Unavailable:
        pass
    else:
        raise AssertionError("expected Unavailable")


def _broken_engine():  # type: ignore[no-untyped-def]
    from hashcart.store import create_engine

    return create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
