"""A local Discord for tests and the playground: `DiscordStandin` and its objects."""

from __future__ import annotations

from hashcart import hookimpl
from hashcart_discord.testing.commands import command_problems
from hashcart_discord.testing.models import (
    Channel,
    CustomEmoji,
    Guild,
    Interaction,
    Message,
    SentMessage,
    User,
)
from hashcart_discord.testing.standin import DiscordStandin


@hookimpl
def hashcart_standins() -> DiscordStandin:
    return DiscordStandin()


__all__ = [
    "Channel",
    "CustomEmoji",
    "DiscordStandin",
    "Guild",
    "Interaction",
    "Message",
    "SentMessage",
    "User",
    "command_problems",
]
