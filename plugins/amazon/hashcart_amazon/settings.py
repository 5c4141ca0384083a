"""The Amazon plugin's configuration, read from `HASHCART_AMAZON_*` variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from hashcart import PluginSettings

#: The Creators API's token endpoint per credential version (2.x: Cognito, 3.x: Login with
#: Amazon), as Amazon's SDK names them. `HASHCART_AMAZON_AUTH_URL` replaces it.
TOKEN_ENDPOINTS = {
    "2.1": "https://creatorsapi.auth.us-east-1.amazoncognito.com/oauth2/token",
    "2.2": "https://creatorsapi.auth.eu-south-2.amazoncognito.com/oauth2/token",
    "2.3": "https://creatorsapi.auth.us-west-2.amazoncognito.com/oauth2/token",
    "3.1": "https://api.amazon.com/auth/o2/token",
    "3.2": "https://api.amazon.co.uk/auth/o2/token",
    "3.3": "https://api.amazon.co.jp/auth/o2/token",
}


class AmazonSettings(PluginSettings):
    """Live lookups are on when the Creators API credential id and secret are set.

    The partner tag (an Associates store id such as `yourtag-21`) goes into every API call and
    into the hand-off links to Amazon's cart, so purchases are credited to the operator.
    """

    model_config = SettingsConfigDict(env_prefix="HASHCART_AMAZON_", extra="ignore")

    credential_id: str | None = Field(None, max_length=128)
    credential_secret: SecretStr | None = None
    credential_version: str = "2.1"
    partner_tag: str | None = Field(None, max_length=64)
    api_url: str = "https://creatorsapi.amazon"
    auth_url: str | None = None
    requests_per_second: int = Field(
        1, ge=1, description="the account's getItems quota, shared by every node"
    )
    max_wait_seconds: float = Field(
        10.0, gt=0, le=60, description="how long a command waits for the quota before retrying"
    )

    @field_validator("api_url", "auth_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @property
    def live(self) -> bool:
        """Whether Amazon products not in the local catalog are looked up live."""
        return bool(self.credential_id and self.credential_secret)  # an empty secret is falsy

    @property
    def token_url(self) -> str:
        return self.auth_url or TOKEN_ENDPOINTS[self.credential_version]

    def problem(self) -> str | None:
        """The one-line reason a live configuration cannot work, if any."""
        if not self.live:
            return None
        if not self.partner_tag:
            return "HASHCART_AMAZON_PARTNER_TAG must be set to look Amazon products up live"
        if self.auth_url is None and self.credential_version not in TOKEN_ENDPOINTS:
            known = ", ".join(TOKEN_ENDPOINTS)
            return (
                f"HASHCART_AMAZON_CREDENTIAL_VERSION {self.credential_version!r} is not one of "
                f"{known} (or set HASHCART_AMAZON_AUTH_URL)"
            )
        return None
