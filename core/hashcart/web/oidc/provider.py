"""The OpenID Connect provider as a client sees it: its settings, its discovered endpoints and
keys, and the checked ID token.

The ID token is checked with authlib's OpenID claims rules over joserfc (the JOSE library authlib
itself builds on): signature against the provider's JWKS, `iss`, `aud`, `exp`, `iat`, `nonce`,
`at_hash`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from hashcart.config import HashcartSettingsBase
from hashcart.web.code_flow import token_request

#: Seconds of clock difference tolerated between the provider and us.
LEEWAY = 60
#: Provider metadata and keys are fetched again after this long (keys also on an unknown `kid`).
METADATA_SECONDS = 3600
#: Asymmetric algorithms only: a symmetric one would make the client secret a signing key.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


class OidcSettings(HashcartSettingsBase):
    """An OpenID Connect provider people may sign in with (`HASHCART_OIDC_*`)."""

    model_config = SettingsConfigDict(env_prefix="HASHCART_OIDC_", extra="ignore")

    issuer: str | None = Field(default=None, description="e.g. https://login.example.com")
    client_id: str | None = None
    client_secret: SecretStr | None = None
    name: str = Field(default="your shop", description='shown as "Sign in with NAME"')
    scope: str = "openid profile email"

    @property
    def configured(self) -> bool:
        return bool(self.issuer and self.client_id and self.client_secret)


class ProviderError(Exception):
    """The provider could not be reached or answered something unusable."""


class TokenRejected(Exception):
    """The provider's answer arrived but must not sign anyone in."""


@dataclass
class Flow:
    state: str
    nonce: str
    verifier: str
    next_path: str

    def dump(self) -> dict[str, str]:
        return {"s": self.state, "n": self.nonce, "v": self.verifier, "x": self.next_path}

    @classmethod
    def load(cls, data: object) -> Flow | None:
        if not isinstance(data, dict):
            return None
        values = [data.get(key) for key in ("s", "n", "v", "x")]
        strings = [value for value in values if isinstance(value, str) and value]
        if len(strings) != len(values):
            return None
        state, nonce, verifier, next_path = strings
        return cls(state, nonce, verifier, next_path)


class Provider:
    """One configured provider: its discovered endpoints and keys, fetched lazily and cached."""

    def __init__(self, settings: OidcSettings, timeout: aiohttp.ClientTimeout) -> None:
        assert settings.issuer and settings.client_id and settings.client_secret
        self.issuer = settings.issuer
        self.client_id = settings.client_id
        self.client_secret = settings.client_secret.get_secret_value()
        scopes = settings.scope.split()
        self.scope = " ".join(scopes if "openid" in scopes else ["openid", *scopes])
        self.timeout = timeout
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as client,
                client.get(url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status != 200:
                    raise ProviderError(f"GET {url} answered {response.status}")
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderError(f"GET {url} failed: {exc!r}") from exc
        if not isinstance(data, dict):
            raise ProviderError(f"GET {url} did not answer a JSON object")
        return data

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_SECONDS:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            found = await self._get_json(url)
            if found.get("issuer") != self.issuer:
                raise ProviderError(
                    f"discovery names issuer {found.get('issuer')!r}, not {self.issuer!r}"
                )
            for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(endpoint), str):
                    raise ProviderError(f"discovery has no {endpoint}")
            self._metadata, self._metadata_at, self._keys = found, time.monotonic(), None
        return self._metadata

    async def keys(self, *, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            metadata = await self.metadata()
            try:
                jwks: Any = await self._get_json(metadata["jwks_uri"])
                self._keys = KeySet.import_key_set(jwks)
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise ProviderError(f"unusable JWKS: {exc!r}") from exc
        return self._keys

    async def exchange(self, code: str, flow: Flow, redirect_uri: str) -> dict[str, Any]:
        """Trade the code for tokens, authenticating as the client the way the provider asks."""
        metadata = await self.metadata()
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        form, headers = token_request(
            code,
            flow.verifier,
            redirect_uri,
            self.client_id,
            self.client_secret,
            basic="client_secret_basic" in methods,
        )
        url = metadata["token_endpoint"]
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as client,
                client.post(url, data=form, headers=headers) as response,
            ):
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderError(f"token request failed: {exc!r}") from exc
        if status != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise TokenRejected(f"token endpoint answered {status} ({error})")
        if not isinstance(body.get("id_token"), str):
            raise TokenRejected("token response has no id_token")
        return body

    async def claims(self, tokens: dict[str, Any], nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature and OpenID rules hold, else TokenRejected."""
        metadata = await self.metadata()
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [alg for alg in offered if alg in ALGORITHMS]
        if not algorithms:
            raise ProviderError(f"no signing algorithm hashcart accepts among {offered!r}")
        try:
            try:
                token = jwt.decode(tokens["id_token"], await self.keys(), algorithms=algorithms)
            except InvalidKeyIdError:
                # The provider may have rotated its keys since we fetched them.
                keys = await self.keys(refresh=True)
                token = jwt.decode(tokens["id_token"], keys, algorithms=algorithms)
            claims = CodeIDToken(
                token.claims,
                token.header,
                {
                    "iss": {"essential": True, "value": self.issuer},
                    "aud": {"essential": True, "value": self.client_id},
                },
                {
                    "nonce": nonce,
                    "client_id": self.client_id,
                    "access_token": tokens.get("access_token"),
                },
            )
            claims.validate(leeway=LEEWAY)
        except (JoseError, ValueError) as exc:
            raise TokenRejected(f"ID token rejected: {exc!r}") from exc
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise TokenRejected("ID token has no subject")
        return dict(claims)
