"""The Slack plugin's configuration, read from `HASHCART_SLACK_*` variables."""

from __future__ import annotations

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Bot scopes the app needs: the slash command, answers, reading channel messages and reactions.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "channels:history",
    "groups:history",
    "reactions:read",
)


class SlackSettings(BaseSettings):
    """Slack is enabled when the signing secret is set.

    Single-workspace mode needs the bot token; multi-workspace mode needs the OAuth client id and
    secret instead, and keeps each workspace's bot token in hashcart's database.
    """

    model_config = SettingsConfigDict(env_prefix="HASHCART_SLACK_", extra="ignore")

    signing_secret: SecretStr | None = None
    bot_token: SecretStr | None = None
    api_url: str = "https://slack.com/api/"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    # "Sign in with Slack" (OpenID Connect) with the same app's client id and secret.
    authorize_url: str = "https://slack.com/openid/connect/authorize"
    command: str = "/cart"
    reaction: str = "shopping_trolley"

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("command")
    @classmethod
    def _slash(cls, value: str) -> str:
        if not value.startswith("/") or len(value) < 2 or any(c.isspace() for c in value):
            raise ValueError("must be a slash command such as /cart")
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.signing_secret and self.signing_secret.get_secret_value())

    @property
    def oauth(self) -> bool:
        """Whether workspaces install the app through OAuth (multi-workspace mode)."""
        return bool(self.client_id and self.client_secret)

    def problem(self) -> str | None:
        """The one-line reason an enabled configuration cannot work, if any."""
        if not self.enabled:
            return None
        if not self.bot_token and not self.oauth:
            return (
                "HASHCART_SLACK_BOT_TOKEN is not set (or set HASHCART_SLACK_CLIENT_ID and "
                "HASHCART_SLACK_CLIENT_SECRET for multi-workspace installs)"
            )
        if bool(self.client_id) != bool(self.client_secret):
            missing = "CLIENT_SECRET" if self.client_id else "CLIENT_ID"
            return f"HASHCART_SLACK_{missing} is not set; OAuth needs both id and secret"
        return None
