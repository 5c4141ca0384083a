"""Discord beyond product links: barcodes in reacted-to messages, and `/cart checkout`,
`confirm`, `forget` and `privacy`, through the real discord.py client on the stand-in gateway.

A reaction's effect is awaited through what the person sees (a DM); "nothing more happened" is
shown by a later event of the same person on the same message, which the plugin handles after
the earlier ones (in order per person and message).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hashcart.catalog import CatalogEntry
from hashcart.testing import RunningHashcart, eventually
from hashcart_discord.links import message_barcodes
from hashcart_discord.testing import (
    DiscordStandin,
    Interaction,
    User,
    command_problems,
)
from tests.plugins.test_discord import (
    ECHO,
    ECHO_URL,
    bot,
    quantities,
    sentinel,
    settled,
    world,
)

TOASTER = "shop:TOASTER"
TOASTER_EAN = "0885909950805"
TOASTER_UPC = "885909950805"  # the same code as UPC-A (EAN-13 without its leading 0)
BAD_EAN = "0885909950806"  # the check digit is wrong


@pytest.fixture
async def discord() -> AsyncIterator[DiscordStandin]:
    async with DiscordStandin() as standin:
        yield standin


async def stock_toaster(hc: RunningHashcart) -> None:
    await hc.hashcart.catalog.upsert([CatalogEntry(TOASTER, "Toaster", 2999, barcode=TOASTER_EAN)])


async def answered(standin: DiscordStandin, user: User, subcommand: str, **options: Any) -> str:
    """Run `/cart <subcommand>` in the first channel and wait for its ephemeral answer."""
    channel = next(c for c in standin.channels.values() if c.guild_id is not None)
    used: Interaction = await standin.use_command(user, channel, "cart", subcommand, **options)
    await eventually(lambda: used.answers)
    assert used.response_type == 5 and used.ephemeral
    return used.answers[-1]


# -- barcodes ------------------------------------------------------------------------------------


async def test_a_cart_reaction_on_a_barcode_adds_its_product(discord: DiscordStandin) -> None:
    alice, message = world(discord, f"new toaster, EAN {TOASTER_EAN} — half price")
    async with bot(discord) as hc:
        await stock_toaster(hc)
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)

        await eventually(lambda: discord.dms_to(alice))
        assert await quantities(hc, alice) == {TOASTER: 1}
        assert "Added Toaster" in discord.dms_to(alice)[0]

        await discord.react(alice, message, remove=True)
        await eventually(lambda: len(discord.dms_to(alice)) == 2)
        assert await quantities(hc, alice) == {}
        assert "Removed Toaster" in discord.dms_to(alice)[1]


async def test_two_codes_of_one_product_add_it_once_and_links_count_first(
    discord: DiscordStandin,
) -> None:
    alice, codes = world(discord, f"{TOASTER_UPC} aka {TOASTER_EAN}")
    linked = discord.post_message(codes.channel, alice, f"{ECHO_URL} (EAN {TOASTER_EAN})")
    async with bot(discord) as hc:
        await stock_toaster(hc)
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, codes)
        await discord.react(alice, linked)

        await eventually(lambda: len(discord.dms_to(alice)) == 2)
        await eventually(lambda: settled(hc))
        assert await quantities(hc, alice) == {TOASTER: 1, ECHO: 1}
        assert len(discord.dms_to(alice)) == 2


async def test_a_wrong_check_digit_is_answered_and_adds_nothing(discord: DiscordStandin) -> None:
    alice, message = world(discord, f"toaster {BAD_EAN}")
    async with bot(discord) as hc:
        await stock_toaster(hc)
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await eventually(lambda: discord.dms_to(alice))
        # Taking the reaction back says nothing: the first answer already did.
        await discord.react(alice, message, remove=True)
        await sentinel(discord, hc, alice)

        invalid, _sentinel = discord.dms_to(alice)
        assert invalid == "That is not a valid barcode: check the digits."
        assert [e["outcome"] for e in await hc.events()] == ["added", "invalid_barcode"]
        assert TOASTER not in await quantities(hc, alice)


def test_barcodes_are_numbers_standing_on_their_own() -> None:
    message = {
        "content": (
            f"<@123456789012345678> {TOASTER_EAN} <t:1700000000:R> "
            "https://shop.example/p?id=4006381333931 and /dp/0316769487"
        ),
        "embeds": [
            {"title": "ISBN 9780316769488", "url": "https://e.example/036000291452"},
            {"fields": [{"name": "UPC", "value": "036000291452"}]},
        ],
    }
    assert message_barcodes(message) == [TOASTER_EAN, "9780316769488", "036000291452"]


# -- /cart checkout, confirm, forget, privacy ------------------------------------------------------


async def test_the_new_subcommands_are_registered_and_valid(discord: DiscordStandin) -> None:
    alice, _message = world(discord, "hi")
    async with bot(discord):
        await eventually(lambda: discord.commands)
        [cart] = discord.commands
        subcommands = {o["name"]: o for o in cart["options"]}
        assert {"checkout", "confirm", "forget", "privacy"} <= subcommands.keys()
        [confirm] = subcommands["forget"]["options"]
        assert (confirm["name"], confirm["type"], confirm.get("required", False)) == (
            "confirm",
            5,
            False,
        )
        assert command_problems(discord.commands) == []
        with pytest.raises(ValueError, match="no sub-command 'order'"):
            await discord.use_command(alice, _message.channel, "cart", "order")


def test_the_standin_refuses_definitions_discord_refuses() -> None:
    subcommand = {
        "type": 1,
        "name": "Forget",
        "description": "",
        "options": [
            {"type": 5, "name": "confirm", "description": "sure?"},
            {"type": 3, "name": "why", "description": "say", "required": True},
        ],
    }
    definition = [{"name": "cart", "description": "Your cart", "options": [subcommand]}]
    where = {place for place, _problem in command_problems(definition)}
    assert where == {"0.options.0.name", "0.options.0.description", "0.options.0.options.1"}


async def test_checkout_then_confirm_places_one_order(discord: DiscordStandin) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        account_id = await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await eventually(lambda: discord.dms_to(alice))

        asked = await answered(discord, alice, "checkout")
        assert "Echo Dot" in asked and "$49.99" in asked and "/cart confirm" in asked
        assert await hc.hashcart.accounts.orders(account_id) == []

        placed = await answered(discord, alice, "confirm")
        again = await answered(discord, alice, "confirm")

        assert placed.startswith("Order placed") and "$49.99" in placed
        assert "nothing to confirm" in again
        [order] = await hc.hashcart.accounts.orders(account_id)
        assert order["total_cents"] == 4999
        assert [(i["product_id"], i["quantity"]) for i in order["items"]] == [(ECHO, 1)]
        assert await quantities(hc, alice) == {}
        assert len(discord.dms_to(alice)) == 1, "the answers went to the commands, not to DMs"


async def test_a_cart_changed_after_checkout_orders_nothing(discord: DiscordStandin) -> None:
    alice, message = world(discord, f"toaster {TOASTER_EAN}")
    echo = discord.post_message(message.channel, alice, ECHO_URL)
    async with bot(discord) as hc:
        await stock_toaster(hc)
        account_id = await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await eventually(lambda: discord.dms_to(alice))
        await answered(discord, alice, "checkout")
        await discord.react(alice, echo)
        await eventually(lambda: len(discord.dms_to(alice)) == 2)

        changed = await answered(discord, alice, "confirm")

        assert "changed" in changed
        assert await hc.hashcart.accounts.orders(account_id) == []
        assert await quantities(hc, alice) == {TOASTER: 1, ECHO: 1}


async def test_forget_asks_then_erases_and_an_old_reaction_replayed_brings_nothing_back(
    discord: DiscordStandin,
) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await eventually(lambda: discord.dms_to(alice))

        asked = await answered(discord, alice, "forget")
        assert "/cart forget confirm: True" in asked
        assert await quantities(hc, alice) == {ECHO: 1}, "asking deletes nothing"
        done = await answered(discord, alice, "forget", confirm=True)
        assert "deleted" in done
        assert await hc.cart("discord", str(alice.id)) is None
        assert await hc.hashcart.accounts.find(name="alice") == []

        # Discord delivers the old reaction again; then alice takes it back (a new event, in
        # order after the replay) and, unlinked now, is asked to link.
        await discord.dispatch_reaction(alice, message)
        await discord.react(alice, message, remove=True)
        await eventually(lambda: len(discord.dms_to(alice)) == 2)
        await eventually(lambda: settled(hc))

        assert len(discord.dms_to(alice)) == 2, "the replay is not answered"
        assert await hc.cart("discord", str(alice.id)) is None
        assert await hc.hashcart.accounts.find(name="alice") == []
        assert f"{hc.url}/link/" in discord.dms_to(alice)[1]


async def test_forget_confirm_without_asking_first_deletes_nothing(
    discord: DiscordStandin,
) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await eventually(lambda: discord.dms_to(alice))

        refused = await answered(discord, alice, "forget", confirm=True)

        assert "nothing to confirm" in refused
        assert await quantities(hc, alice) == {ECHO: 1}


async def test_privacy_on_and_off_are_answered(discord: DiscordStandin) -> None:
    alice, _message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))

        on = await answered(discord, alice, "privacy", mode="on")
        off = await answered(discord, alice, "privacy", mode="off")

        assert "direct message only" in on
        assert "where you asked" in off
        outcomes = [e["outcome"] for e in await hc.events()]
        assert outcomes[:2] == ["privacy_off", "privacy_on"]
