"""Sign in with X (OAuth 2.0 with PKCE, Basic authentication at the token endpoint), so a person
proves which X account is theirs; `users.read` with the `tweet.read` it requires is the least
scope that reads the account's id and handle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hashcart import ProvenIdentity, SignInProvider
from hashcart_twitter.normalize import PLATFORM
from hashcart_twitter.settings import TwitterSettings

SCOPE = "users.read tweet.read"


def signin_provider(settings: TwitterSettings) -> SignInProvider | None:
    return SignInProvider.configured(
        settings.client_id,
        settings.client_secret,
        platform=PLATFORM,
        name="X",
        authorize_url=settings.authorize_url,
        token_url=f"{settings.api_url}/2/oauth2/token",
        userinfo_url=f"{settings.api_url}/2/users/me",
        scope=SCOPE,
        identity=identity_of,
    )


def identity_of(answer: Mapping[str, Any]) -> ProvenIdentity | None:
    """`{"data": {"id": "2244994945", "username": "XDevelopers", ...}}`; ids are digits."""
    data = answer.get("data")
    if not isinstance(data, Mapping):
        return None
    return ProvenIdentity.read(data.get("id"), data.get("username"), digits=True)
