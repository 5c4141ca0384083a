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
    if not settings.client_id or settings.client_secret is None:
        return None
    return SignInProvider(
        platform=PLATFORM,
        name="Discord",
        client_id=settings.client_id,
        client_secret=settings.client_secret.get_secret_value(),
        authorize_url=settings.authorize_url,
        token_url=f"{settings.api_url}/oauth2/token",
        userinfo_url=f"{settings.api_url}/users/@me",
        scope=SCOPE,
        identity=identity_of,
        client_auth="client_secret_basic",
    )


def identity_of(answer: Mapping[str, Any]) -> ProvenIdentity | None:
    """A Discord user object: a snowflake id and a username."""
    user_id, username = answer.get("id"), answer.get("username")
    if not isinstance(user_id, str) or not user_id.isdigit():
        return None
    return ProvenIdentity(user_id, username if isinstance(username, str) and username else None)
