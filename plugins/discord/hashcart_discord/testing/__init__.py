"""A local Discord for tests and the playground: `DiscordStandin` and its objects."""

from __future__ import annotations

from hashcart import hookimpl
from hashcart_discord.testing.commands import command_problems as command_problems
from hashcart_discord.testing.models import Channel as Channel
from hashcart_discord.testing.models import CustomEmoji as CustomEmoji
from hashcart_discord.testing.models import Guild as Guild
from hashcart_discord.testing.models import Interaction as Interaction
from hashcart_discord.testing.models import Message as Message
from hashcart_discord.testing.models import SentMessage as SentMessage
from hashcart_discord.testing.models import User as User
from hashcart_discord.testing.standin import DiscordStandin as DiscordStandin


@hookimpl
def hashcart_standins() -> DiscordStandin:
    return DiscordStandin()
