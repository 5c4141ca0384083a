"""Sign in with Slack: OpenID Connect with the app's own client id and secret.

Slack answers privately anyway (ephemeral messages, `response_url`), so a Slack user normally
gets a link token; signing in lets a person link from `/link/slack` without asking the bot.
The person is read from `openid.connect.userInfo`, keyed as the plugin keys identities: by
workspace and user, `"<team_id>:<user_id>"`, since a user id alone is only unique in its team.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hashcart import ProvenIdentity, SignInProvider
from hashcart_slack.commands import PLATFORM
from hashcart_slack.settings import SlackSettings

SCOPE = "openid profile"
USER_CLAIM = "https://slack.com/user_id"
TEAM_CLAIM = "https://slack.com/team_id"


def signin_provider(settings: SlackSettings) -> SignInProvider | None:
    return SignInProvider.configured(
        settings.client_id,
        settings.client_secret,
        platform=PLATFORM,
        name="Slack",
        authorize_url=settings.authorize_url,
        token_url=f"{settings.api_url}openid.connect.token",
        userinfo_url=f"{settings.api_url}openid.connect.userInfo",
        scope=SCOPE,
        identity=identity_of,
        client_auth="client_secret_post",
    )


def identity_of(answer: Mapping[str, Any]) -> ProvenIdentity | None:
    """Slack answers 200 with `ok: false` when the token is no good: that names nobody."""
    if answer.get("ok") is not True:
        return None
    team, user = answer.get(TEAM_CLAIM), answer.get(USER_CLAIM)
    if not isinstance(team, str) or not isinstance(user, str) or not team or not user:
        return None
    return ProvenIdentity.read(f"{team}:{user}", answer.get("name"))
