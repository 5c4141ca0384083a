from pydantic_settings import BaseSettings, SettingsConfigDict

from hashcart import hookimpl


class EchoSettings(BaseSettings):
    """`HASHCART_ECHO_TOKEN` and `HASHCART_ECHO_REPLY_URL` configure the plugin."""

    model_config = SettingsConfigDict(env_prefix="HASHCART_ECHO_", extra="ignore")

    token: str | None = None
    reply_url: str | None = None


@hookimpl
def hashcart_settings() -> type[BaseSettings]:
    return EchoSettings
