from collections.abc import Mapping
from typing import ClassVar

from pydantic_settings import BaseSettings, SettingsConfigDict

from hashcart import Action, Host, OutgoingReply, Platform, hookimpl


class EchoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HASHCART_ECHO_", extra="ignore")
    token: str | None = None


class EchoPlatform:
    name = "echo"
    # How a person asks for each action here; None: not offered (docs/platforms.md shows it).
    commands: ClassVar[Mapping[Action, str | None]] = {
        **dict.fromkeys(Action),
        Action.ADD: "#{hashtag} and a product link in one message",
    }

    async def start(self) -> None:
        """Open connections; long-running work goes into tasks owned by the platform."""

    async def stop(self) -> None:
        """Cancel those tasks; the core stops platforms before it stops applying commands."""

    async def send_reply(self, reply: OutgoingReply) -> None:
        print(reply.target.user, reply.content.text)


@hookimpl
def hashcart_platform(hashcart: Host) -> Platform | None:
    settings = hashcart.settings_for(EchoSettings)
    return EchoPlatform() if settings.token else None
