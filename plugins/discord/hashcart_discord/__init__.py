"""Discord for hashcart: react 🛒 to a message holding a product link (or, failing that, a
barcode) and it lands in your cart.

The bot listens for reactions and `/cart` on the gateway (discord.py), reads the message once
over REST, hands the core one command per product and answers by DM; `/cart` (list, checkout,
confirm, forget, privacy, …) is answered privately under the command. It needs no web route:
everything arrives over the gateway.
"""

from __future__ import annotations

from hashcart import (
    CartCommand,
    Host,
    Outcome,
    Platform,
    ReplyContent,
    SignInProvider,
    for_platform,
    hookimpl,
)
from hashcart_discord.doctor import run_checks
from hashcart_discord.platform import DiscordPlatform
from hashcart_discord.reactions import PLATFORM
from hashcart_discord.settings import DiscordSettings
from hashcart_discord.signin import signin_provider
from hashcart_discord.wording import format_reply

__all__ = ["DiscordPlatform", "DiscordSettings"]


@hookimpl
def hashcart_settings() -> type[DiscordSettings]:
    return DiscordSettings


@hookimpl
def hashcart_platform(hashcart: Host) -> Platform | None:
    settings = hashcart.settings_for(DiscordSettings)
    return DiscordPlatform(hashcart, settings) if settings.enabled else None


@hookimpl
def hashcart_signin_provider(hashcart: Host) -> SignInProvider | None:
    return signin_provider(hashcart.settings_for(DiscordSettings))


@hookimpl
@for_platform(PLATFORM)
def hashcart_format_reply(
    command: CartCommand, outcome: Outcome, locale: str, hashcart: Host
) -> ReplyContent | None:
    return format_reply(command, outcome, locale, hashcart)


@hookimpl
async def hashcart_doctor(hashcart: Host) -> list[tuple[str, bool, str]]:
    return await run_checks(hashcart.settings_for(DiscordSettings), hashcart.http_timeout)
