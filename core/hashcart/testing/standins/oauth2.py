"""The authorization-code grant (RFC 6749 with RFC 7636 PKCE) as the platforms and the OpenID
Connect stand-in run it: they differ only in paths and in how they word answers.

There is no sign-in form: whoever `/authorize` sees is `user`, the person signed in at the
platform in that browser (`None`: nobody, and the request is denied as if they refused). A code
works once, within a minute, for the redirect URI and verifier it was issued for.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import unquote

from aiohttp import web
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from yarl import URL

__all__ = ["AuthorizationServer", "Issued", "OAuthError"]

UserT = TypeVar("UserT")

CODE_SECONDS = 60
TOKEN_SECONDS = 7200


@dataclass(frozen=True, slots=True)
class OAuthError:
    """An error answer of the token endpoint (RFC 6749 §5.2)."""

    status: int
    error: str


@dataclass(frozen=True, slots=True)
class Issued(Generic[UserT]):
    access_token: str
    scope: str
    user: UserT
    #: OpenID Connect's `nonce` from the authorization request, for the ID token.
    nonce: str | None = None


@dataclass(slots=True)
class _Grant(Generic[UserT]):
    redirect_uri: str
    challenge: str | None
    scope: str
    user: UserT
    expires_at: float
    nonce: str | None


@dataclass
class AuthorizationServer(Generic[UserT]):
    """One platform's OAuth 2.0 authorization server for one registered client."""

    client_id: str
    client_secret: str
    required_scopes: Collection[str] = ()
    require_pkce: bool = True
    client_auth: Collection[str] = ("client_secret_basic", "client_secret_post")
    user: UserT | None = None
    deny: bool = False
    tokens: dict[str, UserT] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _grants: dict[str, _Grant[UserT]] = field(default_factory=dict)

    async def authorize(self, request: web.Request) -> web.Response:
        """GET the authorization endpoint: consent is implied, the browser goes back at once."""
        query = request.query
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri.startswith(
            ("http://", "https://")
        ):
            # RFC 6749 §4.1.2.1: never redirect to an unverified client's address.
            return web.Response(status=400, text="unknown client_id or redirect_uri")
        back = URL(redirect_uri)
        state = {"state": query["state"]} if "state" in query else {}

        def refuse(error: str) -> web.Response:
            return _found(back.update_query(error=error, **state))

        if query.get("response_type") != "code":
            return refuse("unsupported_response_type")
        scope = query.get("scope", "")
        if not set(self.required_scopes) <= set(scope.split()):
            return refuse("invalid_scope")
        challenge = query.get("code_challenge") or None
        if challenge is not None and query.get("code_challenge_method") != "S256":
            return refuse("invalid_request")
        if challenge is None and self.require_pkce:
            return refuse("invalid_request")
        if self.deny or self.user is None:
            return refuse("access_denied")
        code = secrets.token_urlsafe(24)
        expires_at = time.time() + CODE_SECONDS
        self._grants[code] = _Grant(
            redirect_uri, challenge, scope, self.user, expires_at, query.get("nonce")
        )
        return _found(back.update_query(code=code, **state))

    def exchange(
        self, headers: Mapping[str, str], form: Mapping[str, Any]
    ) -> Issued[UserT] | OAuthError:
        """The token endpoint's decision on one request; the stand-in words the answer."""
        values = {key: str(value) for key, value in form.items()}
        self.token_requests.append(
            {key: value for key, value in values.items() if key != "client_secret"}
        )
        if not self._client_ok(headers, values):
            return OAuthError(401, "invalid_client")
        if values.get("grant_type") != "authorization_code":
            return OAuthError(400, "unsupported_grant_type")
        grant = self._grants.pop(values.get("code", ""), None)
        if (
            grant is None
            or grant.expires_at < time.time()
            or grant.redirect_uri != values.get("redirect_uri")
        ):
            return OAuthError(400, "invalid_grant")
        if grant.challenge is not None:
            verifier = values.get("code_verifier", "")
            if not 43 <= len(verifier) <= 128 or not secrets.compare_digest(
                create_s256_code_challenge(verifier), grant.challenge
            ):
                return OAuthError(400, "invalid_grant")
        access_token = secrets.token_urlsafe(32)
        self.tokens[access_token] = grant.user
        return Issued(access_token, grant.scope, grant.user, grant.nonce)

    def bearer_user(self, request: web.Request) -> UserT | None:
        """The person an `Authorization: Bearer` access token of this server stands for."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return self.tokens.get(token) if scheme == "Bearer" else None

    def _client_ok(self, headers: Mapping[str, str], form: Mapping[str, str]) -> bool:
        header = headers.get("Authorization", "")
        if header.startswith("Basic ") and "client_secret_basic" in self.client_auth:
            try:
                raw = base64.b64decode(header[len("Basic ") :], validate=True).decode()
            except ValueError:
                return False
            client_id, _, secret = raw.partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
        elif "client_secret" in form and "client_secret_post" in self.client_auth:
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        else:
            return False
        return client_id == self.client_id and secrets.compare_digest(
            secret.encode(), self.client_secret.encode()
        )


def _found(location: URL) -> web.Response:
    return web.Response(status=302, headers={"Location": str(location)})
