from pydantic_settings import BaseSettings, SettingsConfigDict

from hashcart import Host, OutgoingReply, Platform, hookimpl


class EchoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HASHCART_ECHO_", extra="ignore")
    token: str | None = None


class EchoPlatform:
    name = "echo"

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
