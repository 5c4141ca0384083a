"""Settings from the environment (and `hashcart.toml`), validated once at start-up.

Plugins contribute their own models through `hashcart_settings`; `load_settings` validates a model
and turns the first problem into a `ConfigError` whose one line names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hashcart.errors import ConfigError

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

#: The fewest characters a secret (admin token, session secret) may have.
MIN_SECRET_LENGTH = 24

#: Values shipped as examples (deploy/, the README) or guessed first; compared without case and
#: punctuation, and refused even when padded to length ("CHANGE-ME-CHANGE-ME-…").
_PLACEHOLDERS = ("changeme", "secret", "password", "admintoken", "sessionsecret", "example")


def check_secret(value: str) -> str:
    """Refuse a placeholder or a short secret; the message never repeats the value."""
    folded = "".join(ch for ch in value.lower() if ch.isalnum())
    if folded in _PLACEHOLDERS or "changeme" in folded:
        problem = "is a placeholder"
    elif len(value) < MIN_SECRET_LENGTH:
        problem = "is too short"
    else:
        return value
    raise ValueError(f"{problem}; set a random value of at least {MIN_SECRET_LENGTH} characters")


def _is_set(value: object) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return bool(value.strip()) if isinstance(value, str) else value is not None


def require_complete(settings: BaseSettings, *sets: Sequence[str]) -> None:
    """Refuse a half-given credential set, which would otherwise start its platform silently
    switched off; call it from a plugin settings model's `model_validator(mode="after")`."""
    prefix = str(settings.model_config.get("env_prefix", "")).upper()
    for fields in sets:
        for name in fields:
            if name not in type(settings).model_fields:
                raise TypeError(f"{type(settings).__name__} has no field {name!r}")
        given = [name for name in fields if _is_set(getattr(settings, name))]
        if given and len(given) < len(fields):
            missing = _variables(prefix, (n for n in fields if n not in given))
            raise ValueError(
                f"incomplete credentials: {missing} not set "
                f"(needed with {_variables(prefix, given)})"
            )


def _variables(prefix: str, names: Iterable[str]) -> str:
    return ", ".join(prefix + name.upper() for name in names)


class HashcartSettingsBase(BaseSettings):
    """Base for every hashcart settings model: environment first, then `hashcart.toml` (or what
    `HASHCART_CONFIG` names), keys lower-case without `HASHCART_` (`slack_signing_secret = …`)."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = Path(os.environ.get("HASHCART_CONFIG", "hashcart.toml"))
        if path.is_file():
            sources.append(_PrefixedToml(settings_cls, path))
        return tuple(sources)


class _PrefixedToml(TomlConfigSettingsSource):
    """Reads `hashcart.toml`: `slack_signing_secret` fills a model prefixed HASHCART_SLACK_."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls, toml_file=path)
        prefix = str(settings_cls.model_config.get("env_prefix", "")).lower()
        stripped = prefix.removeprefix("hashcart_")
        self.toml_data = self.init_kwargs = {
            key.lower().removeprefix(stripped): value
            for key, value in self.toml_data.items()
            if key.lower().startswith(stripped)
        }


class Settings(HashcartSettingsBase):
    model_config = SettingsConfigDict(env_prefix="HASHCART_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///hashcart.db"
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str = ""
    admin_token: str | None = Field(
        None, description=f"bearer token of the admin API, at least {MIN_SECRET_LENGTH} characters"
    )
    hashtag: str = "amazoncart"
    load_plugins: str | None = None
    rate_limit_per_minute: int = Field(5, ge=0)
    rate_limit_per_hour: int = Field(30, ge=0)
    rate_limits: str = Field(
        "", description="per-platform overrides: `twitter=3/20,slack=10/60` (per minute/per hour)"
    )
    retention_days: int = Field(30, ge=1)
    confirm_over_quantity: int = Field(10, ge=1, description="adds of more items ask first")
    confirm_over_cents: int = Field(50_000, ge=1, description="adds costing more ask first")
    public_reply: str = Field(
        "", description="wording of a public answer to someone who chose privacy (default: catalog)"
    )
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    retry_give_up_minutes: int = Field(
        30, ge=1, description="an answer or order still failing after this long is given up"
    )
    apply_workers: int = Field(0, ge=0, le=16, description="0 = 1 on SQLite, 2 on PostgreSQL")
    link_token_minutes: int = Field(
        15, ge=1, description="how long a link and a question awaiting `confirm` stay valid"
    )
    product_ttl: int = Field(
        3600, ge=1, description="seconds a product fetched from a live source is reused"
    )
    log_level: str = Field("INFO", pattern=r"^(?i:debug|info|warning|error)$")
    log_format: str = Field("text", pattern=r"^(text|json)$")
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", description="`serve` and `playground`: auto = uvloop where it is installed"
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="addresses (comma-separated, `*` = any) of reverse proxies whose "
        "`X-Forwarded-For` / `Forwarded` headers are believed for the client's address",
    )

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must be an async SQLAlchemy URL: sqlite+aiosqlite:///… or postgresql+asyncpg://…"
            )
        return value

    @field_validator("admin_token")
    @classmethod
    def _strong_admin_token(cls, value: str | None) -> str | None:
        return check_secret(value) if value else None

    @field_validator("hashtag")
    @classmethod
    def _plain_hashtag(cls, value: str) -> str:
        value = value.removeprefix("#")
        if not value or not all(ch.isalnum() or ch == "_" for ch in value):
            raise ValueError("must be letters, digits or _ (without #)")
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        return self

    @field_validator("rate_limits")
    @classmethod
    def _platform_limits(cls, value: str) -> str:
        _parse_limits(value)
        return value

    def rate_limits_for(self, platform: str) -> tuple[int, int]:
        """(per minute, per hour) for a platform: its override, else the general limits."""
        return _parse_limits(self.rate_limits).get(
            platform, (self.rate_limit_per_minute, self.rate_limit_per_hour)
        )

    def plugin_allow_list(self) -> set[str] | None:
        """None = every installed plugin; an empty set = none."""
        if self.load_plugins is None:
            return None
        return {name.strip() for name in self.load_plugins.split(",") if name.strip()}


def _parse_limits(value: str) -> dict[str, tuple[int, int]]:
    limits: dict[str, tuple[int, int]] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        platform, _, pair = part.partition("=")
        minute, _, hour = pair.partition("/")
        if not platform or not minute.isdigit() or not hour.isdigit():
            raise ValueError(f"{part!r} is not platform=PER_MINUTE/PER_HOUR")
        limits[platform.strip()] = (int(minute), int(hour))
    return limits


def load_settings(model: type[SettingsT], **overrides: Any) -> SettingsT:
    """Instantiate a settings model, or raise `ConfigError` naming the variable at fault (never
    the value: it may be a password)."""
    try:
        return model(**overrides)
    except ValidationError as exc:
        error = exc.errors(include_input=False, include_url=False)[0]
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a check across fields names its variables itself
            raise ConfigError(message) from None
        field = ".".join(str(part) for part in error["loc"])
        prefix = str(model.model_config.get("env_prefix", ""))
        raise ConfigError(f"{(prefix + field).upper()}: {message}") from None
