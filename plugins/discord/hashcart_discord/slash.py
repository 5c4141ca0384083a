"""`/cart` as a Discord application command, answered ephemerally.

Discord wants an answer to an interaction within 3 seconds; the command is acknowledged at
once with a private "thinking…" response, and the real answer replaces it when the outbox
sends it (the interaction token allows that for 15 minutes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import discord
from discord import app_commands

from hashcart import Action

#: How a person asks for each action on Discord (`hashcart.Platform.commands`).
COMMANDS: Mapping[Action, str | None] = {
    Action.ADD: "react {emoji} to a message with a product link",
    Action.REMOVE: "take the {emoji} reaction back",
    Action.LIST: "/cart list",
    Action.CLEAR: None,
    Action.LINK: "/cart link",
    Action.UNLINK: "/cart unlink",
    Action.HELP: "/cart help",
    Action.PRIVACY: "/cart privacy mode:on|off",
    Action.FORGET: "/cart forget, then /cart forget confirm:True",
    Action.CHECKOUT: "/cart checkout",
    Action.CONFIRM: "/cart confirm",
    Action.LANGUAGE: "/cart language [code]",
}

SlashHandler = Callable[[discord.Interaction, Action, str | None], Awaitable[None]]


def build_tree(client: discord.Client, handle: SlashHandler) -> app_commands.CommandTree[Any]:
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    cart = app_commands.Group(name="cart", description="Your hashcart shopping cart")

    @cart.command(name="list", description="Show what is in your cart")
    async def list_cart(interaction: discord.Interaction) -> None:
        await handle(interaction, Action.LIST, None)

    @cart.command(name="link", description="Link this Discord account to your cart")
    async def link(interaction: discord.Interaction) -> None:
        await handle(interaction, Action.LINK, None)

    @cart.command(name="unlink", description="Unlink this Discord account from your cart")
    async def unlink(interaction: discord.Interaction) -> None:
        await handle(interaction, Action.UNLINK, None)

    @cart.command(name="privacy", description="Answer you only by direct message, or not")
    @app_commands.describe(mode="on: only direct messages; off: answer where you asked")
    async def privacy(interaction: discord.Interaction, mode: Literal["on", "off"]) -> None:
        await handle(interaction, Action.PRIVACY, mode)

    @cart.command(name="checkout", description="Order what is in your cart (asks you to confirm)")
    async def checkout(interaction: discord.Interaction) -> None:
        await handle(interaction, Action.CHECKOUT, None)

    @cart.command(
        name="confirm", description="Confirm the checkout or large add you just asked for"
    )
    async def confirm(interaction: discord.Interaction) -> None:
        await handle(interaction, Action.CONFIRM, None)

    @cart.command(name="forget", description="Delete your cart and your data (asks you first)")
    @app_commands.describe(confirm="True, after /cart forget asked you: delete everything now")
    async def forget(interaction: discord.Interaction, confirm: bool = False) -> None:
        await handle(interaction, Action.FORGET, "confirm" if confirm else None)

    @cart.command(name="language", description="The language I answer you in")
    @app_commands.describe(code="A language code such as en or de; leave out to follow Discord's")
    async def language(interaction: discord.Interaction, code: str | None = None) -> None:
        await handle(interaction, Action.LANGUAGE, code)

    @cart.command(name="help", description="How to use hashcart")
    async def help_(interaction: discord.Interaction) -> None:
        await handle(interaction, Action.HELP, None)

    tree.add_command(cart)
    return tree


def commands_digest(tree: app_commands.CommandTree[Any]) -> str:
    """A fingerprint of the command definitions: sync only when they changed, since Discord
    limits how often an application may create commands."""
    payload = [command.to_dict(tree) for command in tree.get_commands()]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
