"""The Discord plugin's configuration, validated at start-up so a typo fails in one clear line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Self

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hashcart import require_complete

_CUSTOM_EMOJI = re.compile(
    r"""^(?:
        <a?:(?P<n1>\w{2,32}):(?P<i1>\d{15,25})>   # <:name:id> or <a:name:id>, Discord's form
        | (?P<n2>\w{2,32}):(?P<i2>\d{15,25})      # name:id
    )$""",
    re.VERBOSE,
)
_VARIATION_SELECTOR = "\ufe0f"


@dataclass(frozen=True, slots=True)
class EmojiSpec:
    """The reaction that means "add to cart": a unicode emoji, or a custom one known by its id.

    Custom emoji are matched by id because a server can rename them; unicode ones by the
    character, ignoring the variation selector some clients append.
    """

    name: str
    id: int | None = None

    @classmethod
    def parse(cls, value: str) -> EmojiSpec:
        text = value.strip()
        match = _CUSTOM_EMOJI.match(text)
        if match:
            name = match.group("n1") or match.group("n2")
            emoji_id = match.group("i1") or match.group("i2")
            return cls(name=name, id=int(emoji_id))
        if not text or ":" in text or "<" in text or text.isascii():
            raise ValueError(
                f"{value!r} is neither a unicode emoji nor a custom emoji "
                "like 'name:id' or '<:name:id>'"
            )
        return cls(name=text.replace(_VARIATION_SELECTOR, ""))

    def matches(self, name: str | None, emoji_id: int | None) -> bool:
        if self.id is not None:
            return emoji_id == self.id
        return emoji_id is None and (name or "").replace(_VARIATION_SELECTOR, "") == self.name

    @property
    def key(self) -> str:
        """How the emoji appears in event ids: stable across renames of a custom emoji."""
        return str(self.id) if self.id is not None else self.name

    @property
    def rest_form(self) -> str:
        """How Discord's REST API names the emoji in a path: the character, or `name:id`."""
        return f"{self.name}:{self.id}" if self.id is not None else self.name


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """Which shards of how many this node runs, so several nodes can split one bot's guilds."""

    shard_ids: tuple[int, ...]
    shard_count: int

    @classmethod
    def parse(cls, value: str) -> ShardPlan | None:
        text = value.replace(" ", "")
        if not text:
            return None
        ids_text, slash, count_text = text.partition("/")
        hint = "expected shard ids then the total, like '0,1/4'"
        if not slash or not ids_text or not count_text.isdigit():
            raise ValueError(f"{value!r}: {hint}")
        count = int(count_text)
        if count < 1:
            raise ValueError(f"{value!r}: the total number of shards must be at least 1")
        ids: list[int] = []
        for part in ids_text.split(","):
            if not part.isdigit():
                raise ValueError(f"{value!r}: {part!r} is not a shard id; {hint}")
            shard = int(part)
            if shard >= count:
                raise ValueError(f"{value!r}: shard {shard} does not exist in a total of {count}")
            if shard in ids:
                raise ValueError(f"{value!r}: shard {shard} is listed twice")
            ids.append(shard)
        return cls(tuple(sorted(ids)), count)


class DiscordSettings(BaseSettings):
    """`HASHCART_DISCORD_*`; the platform runs when TOKEN is set."""

    model_config = SettingsConfigDict(env_prefix="HASHCART_DISCORD_", extra="ignore")

    token: SecretStr | None = None
    api_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    emoji: str = "🛒"
    shards: str = Field(default="", description="'0,1/4' runs shards 0 and 1 of 4; empty = all")
    reconcile_minutes: int = Field(
        default=15,
        ge=0,
        le=10_080,
        description="after a fresh IDENTIFY, compare the cart reactions on messages seen this "
        "many minutes back with Discord's; 0 = off",
    )
    # "Sign in with Discord" (OAuth2, scope `identify`), to link a Discord identity by proof.
    client_id: str | None = None
    client_secret: SecretStr | None = None
    authorize_url: str = "https://discord.com/oauth2/authorize"

    @field_validator("api_url", "authorize_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("gateway_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not re.match(r"^wss?://[^/\s]+", value):
            raise ValueError("is not a ws:// or wss:// URL")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Self:
        """A sign-in client id without its secret (or the reverse) fails start-up."""
        require_complete(self, ("client_id", "client_secret"))
        return self

    @field_validator("emoji", "shards")
    @classmethod
    def _parses(cls, value: str, info: ValidationInfo) -> str:
        (EmojiSpec if info.field_name == "emoji" else ShardPlan).parse(value)
        return value

    @property
    def enabled(self) -> bool:
        return self.token is not None and bool(self.token.get_secret_value().strip())

    @property
    def emoji_spec(self) -> EmojiSpec:
        return EmojiSpec.parse(self.emoji)

    @property
    def shard_plan(self) -> ShardPlan | None:
        return ShardPlan.parse(self.shards)
