"""A local OpenID Connect provider: discovery, authorize, token and JWKS, for one person at a time.

Tests, the playground and shop integrators use it instead of a real identity provider. It follows
OpenID Connect Core and RFC 7636 where a relying party can tell: discovery names its own issuer,
`/authorize` requires `response_type=code`, an `openid` scope and an S256 PKCE challenge and
redirects back with `code` and `state` (or `error=access_denied`), codes work once within a
minute and only with the verifier and redirect URI they were issued for, clients authenticate
with `client_secret_basic` or `client_secret_post`, and ID tokens are RS256 JWTs (joserfc, the
JOSE library authlib builds on) carrying `nonce` and `at_hash`.

There is no login form: whoever `/authorize` sees is `provider.user`, or the request is denied
when `provider.deny` is set. To test a relying party's checks, `id_token_overrides` changes
claims of the next ID tokens and `sign_with_foreign_key` signs them with a key not in the JWKS.

    async with OidcStandin() as provider:
        env = provider.env()            # HASHCART_OIDC_* pointing here
        provider.user = OidcUser(sub="248289761001", preferred_username="jane")
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from yarl import URL

__all__ = ["OidcStandin", "OidcUser"]

DEFAULT_CLIENT_ID = "hashcart-standin"
DEFAULT_CLIENT_SECRET = "standin-oidc-secret"
CODE_SECONDS = 60
TOKEN_SECONDS = 300


@dataclass(frozen=True, slots=True)
class OidcUser:
    sub: str
    preferred_username: str | None = None
    email: str | None = None
    name: str | None = None

    def claims(self) -> dict[str, str]:
        found = {
            "preferred_username": self.preferred_username,
            "email": self.email,
            "name": self.name,
        }
        return {key: value for key, value in found.items() if value is not None}


@dataclass(slots=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    scope: str
    user: OidcUser
    expires_at: float


@dataclass(slots=True)
class Issued:
    """An ID token as sent, for tests that want to look at it."""

    claims: dict[str, Any]
    id_token: str
    access_token: str


@dataclass
class OidcStandin:
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
        self._grants: dict[str, _Grant] = {}
        self._runner: web.AppRunner | None = None

    # -- life cycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> OidcStandin:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound = self._runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def issuer(self) -> str:
        return self.url

    def env(self, **overrides: str) -> dict[str, str]:
        """`HASHCART_OIDC_*` for a relying party of this provider; `overrides` use short names."""
        values = {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        values.update(overrides)
        return {f"HASHCART_OIDC_{key.upper()}": value for key, value in values.items()}

    def app(self) -> web.Application:
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
        query = request.query
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri.startswith(
            ("http://", "https://")
        ):
            # OIDC Core §3.1.2.6: never redirect to an unverified client's address.
            return web.Response(status=400, text="unknown client or redirect_uri")
        back = URL(redirect_uri)
        state = {"state": query["state"]} if "state" in query else {}

        def refuse(error: str) -> web.Response:
            return _found(back.update_query(error=error, **state))

        if query.get("response_type") != "code":
            return refuse("unsupported_response_type")
        if "openid" not in query.get("scope", "").split():
            return refuse("invalid_scope")
        if not query.get("code_challenge") or query.get("code_challenge_method") != "S256":
            return refuse("invalid_request")
        if self.deny:
            return refuse("access_denied")
        code = secrets.token_urlsafe(24)
        self._grants[code] = _Grant(
            client_id=self.client_id,
            redirect_uri=redirect_uri,
            challenge=query["code_challenge"],
            nonce=query.get("nonce"),
            scope=query["scope"],
            user=self.user,
            expires_at=time.time() + CODE_SECONDS,
        )
        return _found(back.update_query(code=code, **state))

    def _client_of(self, request: web.Request, form: dict[str, str]) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                raw = base64.b64decode(header[6:], validate=True).decode()
            except ValueError:
                return None
            client_id, _, secret = raw.partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if client_id == self.client_id and secrets.compare_digest(secret, self.client_secret):
            return client_id
        return None

    async def _token(self, request: web.Request) -> web.Response:
        form = {
            key: value for key, value in (await request.post()).items() if isinstance(value, str)
        }
        client_id = self._client_of(request, form)
        if client_id is None:
            return _oauth_error(401, "invalid_client", WWW_Authenticate='Basic realm="standin"')
        if form.get("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type")
        grant = self._grants.pop(form.get("code", ""), None)
        if (
            grant is None
            or grant.expires_at < time.time()
            or grant.client_id != client_id
            or grant.redirect_uri != form.get("redirect_uri")
        ):
            return _oauth_error(400, "invalid_grant")
        verifier = form.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128 or not secrets.compare_digest(
            create_s256_code_challenge(verifier), grant.challenge
        ):
            return _oauth_error(400, "invalid_grant")
        access_token = secrets.token_urlsafe(32)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.user.sub,
            "aud": client_id,
            "iat": now,
            "exp": now + TOKEN_SECONDS,
            "auth_time": now,
            "at_hash": create_half_hash(access_token, "RS256").decode(),
            **grant.user.claims(),
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims.update(self.id_token_overrides)
        key = self._foreign if self.sign_with_foreign_key else self._key
        id_token = jwt.encode({"alg": "RS256", "kid": "standin-1", "typ": "JWT"}, claims, key)
        self.issued.append(Issued(claims, id_token, access_token))
        return web.json_response(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_SECONDS,
                "scope": grant.scope,
                "id_token": id_token,
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )


def _found(location: URL) -> web.Response:
    return web.Response(status=302, headers={"Location": str(location)})


def _oauth_error(status: int, error: str, **headers: str) -> web.Response:
    named = {key.replace("_", "-"): value for key, value in headers.items()}
    return web.json_response(
        {"error": error}, status=status, headers={"Cache-Control": "no-store", **named}
    )
