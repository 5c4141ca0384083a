"""Sign in with the bot's Mastodon instance, so its accounts can link by proof.

Only the bot's own instance can vouch for the account ids the plugin keys identities by: accounts
of other instances get their token through a direct mention instead. Register the application
there (`POST /api/v1/apps`, redirect URI `{PUBLIC_URL}/link/mastodon/callback`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hashcart import ProvenIdentity, SignInProvider
from hashcart_mastodon.settings import MastodonSettings
from hashcart_mastodon.statuses import PLATFORM

SCOPE = "read:accounts"


def signin_provider(settings: MastodonSettings) -> SignInProvider | None:
    if not settings.api_url:
        return None
    return SignInProvider.configured(
        settings.client_id,
        settings.client_secret,
        platform=PLATFORM,
        name="Mastodon",
        authorize_url=f"{settings.api_url}/oauth/authorize",
        token_url=f"{settings.api_url}/oauth/token",
        userinfo_url=f"{settings.api_url}/api/v1/accounts/verify_credentials",
        scope=SCOPE,
        identity=identity_of,
        client_auth="client_secret_post",
    )


def identity_of(answer: Mapping[str, Any]) -> ProvenIdentity | None:
    """A Mastodon account: its id on this instance and its `acct` (the handle without @)."""
    return ProvenIdentity.read(answer.get("id"), answer.get("acct"))
