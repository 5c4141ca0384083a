"""A local OpenID Connect provider (discovery, authorize, token, JWKS) for one person at a time,
so that tests, the playground and shop integrators need no real identity provider.

ID tokens are RS256 JWTs (joserfc, the JOSE library authlib builds on) carrying `nonce` and
`at_hash`. To test a relying party's checks, `id_token_overrides` changes claims of the next ID
tokens and `sign_with_foreign_key` signs them with a key not in the JWKS.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from hashcart.testing.standins import LocalServer
from hashcart.testing.standins.oauth2 import AuthorizationServer, OAuthError

__all__ = ["OidcStandin", "OidcUser"]

DEFAULT_CLIENT_ID = "hashcart-standin"
DEFAULT_CLIENT_SECRET = "standin-oidc-secret"
TOKEN_SECONDS = 300
NO_STORE = {"Cache-Control": "no-store"}
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="standin"'}


@dataclass(frozen=True, slots=True)
class OidcUser:
    sub: str
    preferred_username: str | None = None
    email: str | None = None
    name: str | None = None

    def claims(self) -> dict[str, str]:
        """The profile claims that are set (`sub` is the token's own)."""
        return {k: v for k, v in asdict(self).items() if k != "sub" and v is not None}


@dataclass(slots=True)
class Issued:
    """An ID token as sent, for tests that want to look at it."""

    claims: dict[str, Any]
    id_token: str
    access_token: str


@dataclass
class OidcStandin(LocalServer):
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    user: OidcUser = field(default_factory=lambda: OidcUser("248289761001", "jane"))
    deny: bool = False
    id_token_overrides: dict[str, Any] = field(default_factory=dict)
    sign_with_foreign_key: bool = False
    issued: list[Issued] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._key = RSAKey.generate_key(2048, parameters={"kid": "standin-1", "use": "sig"})
        # Same kid, another key: what a forged token signed by someone else looks like.
        self._foreign = RSAKey.generate_key(2048, parameters={"kid": "standin-1", "use": "sig"})
        self._server: AuthorizationServer[OidcUser] = AuthorizationServer(
            self.client_id, self.client_secret, required_scopes=("openid",)
        )

    @property
    def issuer(self) -> str:
        return self.url

    def env(self, **overrides: str) -> dict[str, str]:
        """`HASHCART_OIDC_*` for a relying party of this provider; `overrides` use short names."""
        own = dict(issuer=self.issuer, client_id=self.client_id, client_secret=self.client_secret)
        return {f"HASHCART_OIDC_{name.upper()}": v for name, v in {**own, **overrides}.items()}

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/jwks", self._jwks)
        return app

    # -- endpoints --------------------------------------------------------------------------------

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        return web.json_response(KeySet([self._key]).as_dict(private=False))

    async def _authorize(self, request: web.Request) -> web.Response:
        self._server.user, self._server.deny = self.user, self.deny
        return await self._server.authorize(request)

    async def _token(self, request: web.Request) -> web.Response:
        issued = self._server.exchange(request.headers, await request.post())
        if isinstance(issued, OAuthError):
            challenge = BASIC_CHALLENGE if issued.status == 401 else {}
            return web.json_response(
                {"error": issued.error}, status=issued.status, headers={**NO_STORE, **challenge}
            )
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": issued.user.sub,
            "aud": self.client_id,
            "iat": now,
            "exp": now + TOKEN_SECONDS,
            "auth_time": now,
            "at_hash": create_half_hash(issued.access_token, "RS256").decode(),
            **issued.user.claims(),
        }
        if issued.nonce is not None:
            claims["nonce"] = issued.nonce
        claims.update(self.id_token_overrides)
        key = self._foreign if self.sign_with_foreign_key else self._key
        id_token = jwt.encode({"alg": "RS256", "kid": "standin-1", "typ": "JWT"}, claims, key)
        self.issued.append(Issued(claims, id_token, issued.access_token))
        return web.json_response(
            {
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_SECONDS,
                "scope": issued.scope,
                "id_token": id_token,
            },
            headers={**NO_STORE, "Pragma": "no-cache"},
        )
