"""Configuration of the Mastodon plugin, read from `HASHCART_MASTODON_*` variables."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hashcart import require_complete


class MastodonSettings(BaseSettings):
    """The bot account's instance and token; the platform runs only with both."""

    model_config = SettingsConfigDict(env_prefix="HASHCART_MASTODON_", extra="ignore")

    api_url: str | None = None
    access_token: SecretStr | None = None
    # Some instances serve the streaming API from another host (see /api/v2/instance).
    streaming_url: str | None = None
    # OAuth sign-in with the instance, so its own accounts can link by proof (`/link/mastodon`).
    client_id: str | None = None
    client_secret: SecretStr | None = None
    # First reconnect delay, doubled after each failure up to a minute; tests shrink it.
    reconnect_seconds: float = Field(default=1.0, gt=0)
    # Mastodon sends a heartbeat comment every few seconds; this much silence is a dead stream.
    stall_seconds: float = Field(default=90.0, gt=0)

    @field_validator("api_url", "streaming_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        """An instance without a token (or a token without its instance) fails start-up."""
        require_complete(self, ("api_url", "access_token"), ("client_id", "client_secret"))
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.api_url and self.access_token)

    @property
    def token(self) -> str:
        return self.access_token.get_secret_value() if self.access_token else ""

    @property
    def stream_base(self) -> str:
        return self.streaming_url or self.api_url or ""
