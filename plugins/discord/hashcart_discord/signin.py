"""Sign in with Discord: OAuth2 with the `identify` scope, to link by proving who one is.

Discord answers by DM, so a Discord user normally gets a link token; signing in lets a person
link from `/link/discord` with closed DMs too. `identify` is the least Discord offers: the user's
id and name from `/users/@me`, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hashcart import ProvenIdentity, SignInProvider
from hashcart_discord.reactions import PLATFORM
from hashcart_discord.settings import DiscordSettings

SCOPE = "identify"


def signin_provider(settings: DiscordSettings) -> SignInProvider | None:
    return SignInProvider.configured(
        settings.client_id,
        settings.client_secret,
        platform=PLATFORM,
        name="Discord",
        authorize_url=settings.authorize_url,
        token_url=f"{settings.api_url}/oauth2/token",
        userinfo_url=f"{settings.api_url}/users/@me",
        scope=SCOPE,
        identity=identity_of,
    )


def identity_of(answer: Mapping[str, Any]) -> ProvenIdentity | None:
    """A Discord user object: a snowflake id and a username."""
    return ProvenIdentity.read(answer.get("id"), answer.get("username"), digits=True)
