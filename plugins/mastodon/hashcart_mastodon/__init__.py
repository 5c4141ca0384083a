"""Mastodon for hashcart: reply `@bot #amazoncart` to a post with a product link to add it.

A separate distribution built only on hashcart's public API, as a stranger would write one.
"""

from __future__ import annotations

import aiohttp

from hashcart import (
    CartCommand,
    Host,
    Outcome,
    OutcomeCode,
    Platform,
    ReplyContent,
    SignInProvider,
    for_platform,
    hookimpl,
)
from hashcart_mastodon.client import MastodonClient, MastodonError
from hashcart_mastodon.platform import MastodonPlatform
from hashcart_mastodon.settings import MastodonSettings
from hashcart_mastodon.signin import signin_provider
from hashcart_mastodon.statuses import PLATFORM

__version__ = "0.1.0"
__all__ = ["MastodonPlatform", "MastodonSettings", "doctor_rows"]


@hookimpl
def hashcart_settings() -> type[MastodonSettings]:
    return MastodonSettings


@hookimpl
def hashcart_platform(hashcart: Host) -> Platform | None:
    settings = hashcart.settings_for(MastodonSettings)
    return MastodonPlatform(hashcart, settings) if settings.enabled else None


@hookimpl
@for_platform(PLATFORM)
def hashcart_format_reply(
    command: CartCommand, outcome: Outcome, locale: str, hashcart: Host
) -> ReplyContent | None:
    """Help names what Mastodon has: a mention with the hashtag (the core's sentence names
    `/cart` commands, which Mastodon does not have)."""
    if outcome.code is not OutcomeCode.HELP:
        return None
    hashtag = hashcart.settings.hashtag
    return ReplyContent(hashcart.translate(locale, "reply.help_mastodon", hashtag=hashtag))


@hookimpl
def hashcart_signin_provider(hashcart: Host) -> SignInProvider | None:
    return signin_provider(hashcart.settings_for(MastodonSettings))


@hookimpl
async def hashcart_doctor(hashcart: Host) -> list[tuple[str, bool, str]]:
    return await doctor_rows(hashcart.settings_for(MastodonSettings), hashcart.http_timeout)


async def doctor_rows(
    settings: MastodonSettings, http_timeout: aiohttp.ClientTimeout
) -> list[tuple[str, bool, str]]:
    if not settings.enabled:
        missing = "set HASHCART_MASTODON_API_URL and HASHCART_MASTODON_ACCESS_TOKEN"
        return [("mastodon configuration", False, missing)]
    rows = [("mastodon configuration", True, f"instance {settings.api_url}")]
    client = MastodonClient(settings, http_timeout)
    client.open()
    try:
        try:
            bot = await client.verify_credentials()
            rows.append(("mastodon token", True, f"signed in as @{bot.get('acct')}"))
        except MastodonError as exc:
            rows.append(("mastodon token", False, exc.reason))
        healthy = await client.stream_health()
        rows.append(
            ("mastodon streaming API", healthy, "answers" if healthy else "does not answer")
        )
    finally:
        await client.close()
    return rows
