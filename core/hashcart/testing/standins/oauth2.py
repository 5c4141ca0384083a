"""The authorization-code grant as the platforms run it, shared by the stand-ins' sign-in pages.

X, Slack, Discord and Mastodon each let a person sign in with them through RFC 6749's
authorization-code grant (with RFC 7636 PKCE); they differ in paths and in how they word
answers, which each stand-in keeps to itself. This holds what they share and what a client can
tell apart: `/authorize` redirects only to a registered redirect URI of a known client, requires
`response_type=code`, the scopes the stand-in is told to require and (where `require_pkce`) an
S256 challenge, and redirects back with `code` and `state` (or `error=access_denied` when `deny`
is set). A code works once, within a minute, for the client, redirect URI and verifier it was
issued for; clients authenticate as `client_auth` allows.

There is no sign-in form: whoever `/authorize` sees is `user`, the person signed in at the
platform in that browser (`None`: nobody, and the request is denied as if they refused).
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


@dataclass(slots=True)
class _Grant(Generic[UserT]):
    redirect_uri: str
    challenge: str | None
    scope: str
    user: UserT
    expires_at: float


@dataclass
class AuthorizationServer(Generic[UserT]):
    """One platform's OAuth 2.0 authorization server for one registered client."""

    client_id: str
    client_secret: str
    required_scopes: Collection[str] = ()
    require_pkce: bool = True
    client_auth: Collection[str] = ("client_secret_basic", "client_secret_post")
    #: Registered redirect URIs; empty: any http(s) URI is accepted.
    redirect_uris: list[str] = field(default_factory=list)
    user: UserT | None = None
    deny: bool = False
    scope_separator: str = " "
    tokens: dict[str, UserT] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _grants: dict[str, _Grant[UserT]] = field(default_factory=dict)

    async def authorize(self, request: web.Request) -> web.Response:
        """GET the authorization endpoint: consent is implied, the browser goes back at once."""
        query = request.query
        redirect_uri = query.get("redirect_uri", "")
        known = redirect_uri in self.redirect_uris if self.redirect_uris else True
        if (
            query.get("client_id") != self.client_id
            or not known
            or not redirect_uri.startswith(("http://", "https://"))
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
        if not set(self.required_scopes) <= set(scope.split(self.scope_separator)):
            return refuse("invalid_scope")
        challenge = query.get("code_challenge")
        if challenge is not None and query.get("code_challenge_method") != "S256":
            return refuse("invalid_request")
        if challenge is None and self.require_pkce:
            return refuse("invalid_request")
        if self.deny or self.user is None:
            return refuse("access_denied")
        code = secrets.token_urlsafe(24)
        self._grants[code] = _Grant(
            redirect_uri, challenge, scope, self.user, time.time() + CODE_SECONDS
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
        return Issued(access_token, grant.scope, grant.user)

    def bearer_user(self, request: web.Request) -> UserT | None:
        """The person an `Authorization: Bearer` access token of this server stands for."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        return self.tokens.get(header[len("Bearer ") :])

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
