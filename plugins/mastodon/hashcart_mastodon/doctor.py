"""`hashcart doctor` rows for Mastodon: configuration, the token, the streaming API."""

from __future__ import annotations

import aiohttp

from hashcart_mastodon.client import MastodonClient, MastodonError
from hashcart_mastodon.settings import MastodonSettings


async def doctor_rows(
    settings: MastodonSettings, http_timeout: aiohttp.ClientTimeout
) -> list[tuple[str, bool, str]]:
    if not settings.enabled:
        return [
            (
                "mastodon configuration",
                False,
                "set HASHCART_MASTODON_API_URL and HASHCART_MASTODON_ACCESS_TOKEN",
            )
        ]
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
