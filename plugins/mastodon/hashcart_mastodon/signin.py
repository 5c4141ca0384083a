"""Sign in with the bot's Mastodon instance, so its accounts can link by proof.

A public status gets a public answer, and a link token there would let any reader link the
asker's identity to their own cart; the answer points to `/link/mastodon` instead. Mastodon's
OAuth (authorization code, PKCE, scope `read:accounts`) on the bot's own instance proves who a
local account is; `verify_credentials` gives the id the plugin keys identities by. Accounts of
other instances have other ids there, so they get their token through a direct mention instead.
Register the application on the instance (`POST /api/v1/apps` with the redirect URI
`{PUBLIC_URL}/link/mastodon/callback`) for the client id and secret.
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
