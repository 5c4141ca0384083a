"""Configuration of the X plugin, read from `HASHCART_TWITTER_*` variables."""

from __future__ import annotations

import enum
from typing import Annotated, Self

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hashcart import require_complete

#: Posting replies needs user context: all four or none.
USER_CONTEXT = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")


class Mode(enum.StrEnum):
    WEBHOOK = "webhook"
    STREAM = "stream"


class TwitterSettings(BaseSettings):
    """App and bot-account credentials; the consumer secret also signs webhook deliveries."""

    model_config = SettingsConfigDict(env_prefix="HASHCART_TWITTER_", extra="ignore")

    api_url: str = "https://api.x.com"
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    access_token: str | None = None
    access_token_secret: SecretStr | None = None
    bot_user_id: str | None = None
    # The bot's @handle, without the @: answers that ask for `#confirm` say whom to send it to.
    bot_screen_name: str | None = None
    mode: Mode = Mode.WEBHOOK
    bearer_token: SecretStr | None = Field(default=None, validate_default=True)
    # "Sign in with X" (OAuth 2.0 with PKCE), so people link their X identity by proving it.
    client_id: str | None = None
    client_secret: SecretStr | None = None
    authorize_url: str = "https://x.com/i/oauth2/authorize"
    # Accounts (other bots, say) whose tweets are never commands; comma-separated in the env.
    ignored_user_ids: Annotated[frozenset[str], NoDecode] = Field(default_factory=frozenset)

    # Filtered-stream tuning: tests shrink X's reconnect schedule; 20 s keep-alives mean that
    # a longer silence is a dead connection.
    stream_backoff_scale: float = Field(default=1.0, gt=0)
    stream_stall_seconds: float = Field(default=30.0, gt=0)
    stream_lease_seconds: float = Field(default=10.0, gt=0)
    # Minutes of tweets X sends again on each stream connection (`backfill_minutes`, 0-5), so
    # that a tweet read but not recorded when a connection or a node died is not lost. X's
    # filtered stream takes it at the access levels that have the stream; if X refuses it, the
    # plugin goes on without. 0 turns it off.
    stream_backfill_minutes: int = Field(default=5, ge=0, le=5)

    @field_validator("ignored_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("bot_screen_name")
    @classmethod
    def _no_at(cls, value: str | None) -> str | None:
        return value.strip().lstrip("@") or None if value else None

    @field_validator("api_url", "authorize_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("bearer_token")
    @classmethod
    def _stream_needs_bearer(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        if value is None and info.data.get("mode") is Mode.STREAM:
            raise ValueError("required when HASHCART_TWITTER_MODE=stream")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Self:
        """Three of four credentials would start X switched off without a word."""
        require_complete(self, USER_CONTEXT, ("client_id", "client_secret"))
        return self

    @property
    def enabled(self) -> bool:
        """Posting replies needs user context, so the platform runs only with all four secrets."""
        return all(getattr(self, name) for name in USER_CONTEXT)

    @property
    def webhook_secret(self) -> bytes | None:
        secret = self.consumer_secret
        return secret.get_secret_value().encode() if secret is not None else None

    def ignores(self, user_id: str) -> bool:
        return user_id in self.ignored_user_ids or (
            self.bot_user_id is not None and user_id == self.bot_user_id
        )
