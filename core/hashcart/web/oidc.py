"""Sign-in through an OpenID Connect provider (`HASHCART_OIDC_*`): the authorization-code flow
with PKCE, its two routes, and the provider as a client sees it.

What the callback must check against (state, nonce, PKCE verifier, where to go next) rides in a
short-lived signed HttpOnly cookie scoped to the callback, signed with the session secret: the
server keeps no table of flows, any node can finish a flow another started, and a callback that
did not start in this browser has nothing to match. Every failure ends on a plain page and signs
nobody in. Each subject signs in to one account, made on its first sign-in.

The ID token is checked with authlib's OpenID claims rules over joserfc (the JOSE library authlib
itself builds on): signature against the provider's JWKS, `iss`, `aud`, `exp`, `iat`, `nonce`,
`at_hash`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.config import HashcartSettingsBase, load_settings
from hashcart.errors import Conflict, NotFound
from hashcart.store import dialect_insert
from hashcart.store.schema import plugin_kv
from hashcart.web.code_flow import Refusals, authorization_url, state_matches, token_request
from hashcart.web.pages import SIGNIN_BUTTON_KEY, message, safe_next, see_other
from hashcart.web.server import HASHCART_KEY, hashcart_of
from hashcart.web.session import CODEC_KEY, SignedCookie, session_of, with_session

log = logging.getLogger(__name__)

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
        values: list[Any] = [data.get(key) for key in ("s", "n", "v", "x")]
        if not all(isinstance(value, str) and value for value in values):
            return None
        return cls(*values)


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


START_PATH = "/signin/oidc"
CALLBACK_PATH = "/signin/oidc/callback"
#: How long a person may spend at the provider before the flow is void.
FLOW_SECONDS = 600
KV_NAMESPACE = "oidc"
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class OidcState:
    """What the routes share: the settings, the provider (when configured), the flow cookie."""

    settings: OidcSettings
    provider: Provider | None
    cookie: SignedCookie


OIDC_KEY: web.AppKey[OidcState] = web.AppKey("hashcart_oidc", OidcState)


def _redirect_uri(request: web.Request) -> str:
    return hashcart_of(request).settings.public_url.rstrip("/") + CALLBACK_PATH


async def _not_configured(request: web.Request) -> web.Response:
    back = {"url": "/signin", "label": "web.next.signin"}
    return await message(
        request, 404, "web.error.not_found", "web.error.oidc_not_offered", next_step=back
    )


async def _failed(
    request: web.Request, status: int, title: str, text: str, **params: Any
) -> web.Response:
    """A failed sign-in's page; `title` and `text` are catalog ids filled in with `params`."""
    back = {"url": "/signin", "label": "web.next.back_to_signin"}
    response = await message(request, status, title, text, params, next_step=back)
    request.app[OIDC_KEY].cookie.drop(response, START_PATH)
    return response


REFUSALS = Refusals("oidc", _failed)


@with_session
async def start(request: web.Request) -> web.Response:
    state = request.app[OIDC_KEY]
    if state.provider is None:
        return await _not_configured(request)
    flow = Flow(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(64),
        next_path=safe_next(request.query.get("next")),
    )
    provider = state.provider
    try:
        endpoint = (await provider.metadata())["authorization_endpoint"]
    except ProviderError as exc:
        log.warning("oidc: cannot start a sign-in: %s", exc)
        hashcart_of(request).count_platform_error("oidc", "discovery")
        name = state.settings.name
        silent = "web.error.oidc_silent"
        return await _failed(request, 502, "web.error.oidc_down.title", silent, provider=name)
    location = authorization_url(
        endpoint,
        provider.client_id,
        _redirect_uri(request),
        provider.scope,
        flow.state,
        flow.verifier,
        {"nonce": flow.nonce},
    )
    response = see_other(location)
    state.cookie.write(response, flow.dump(), START_PATH)
    return response


@with_session
async def callback(request: web.Request) -> web.Response:
    state = request.app[OIDC_KEY]
    provider = state.provider
    if provider is None:
        return await _not_configured(request)
    name = state.settings.name
    flow = Flow.load(state.cookie.read(request))
    if flow is None or not state_matches(request, flow.state):
        return await REFUSALS.foreign(request)
    code = await REFUSALS.code(request, name)
    if not isinstance(code, str):
        return code
    hashcart = hashcart_of(request)
    try:
        tokens = await provider.exchange(code, flow, _redirect_uri(request))
        claims = await provider.claims(tokens, flow.nonce)
    except (ProviderError, TokenRejected) as exc:
        log.warning("oidc: sign-in refused: %s", exc)
        hashcart.count_platform_error("oidc", type(exc).__name__)
        return await REFUSALS.refused(request, name, reached=isinstance(exc, TokenRejected))
    try:
        account_id, version, created = await account_for(request, provider.issuer, claims)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("oidc: could not record the sign-in: %s", exc)
        unfinished = "web.error.oidc_unfinished"
        return await _failed(request, 503, "web.error.oidc_down.title", unfinished)
    session_of(request).sign_in(account_id, version)
    next_path = flow.next_path
    response = see_other(next_path if not created or next_path != "/cart" else "/cart?done=welcome")
    state.cookie.drop(response, START_PATH)
    return response


def account_name_from(claims: dict[str, Any]) -> str:
    """A readable account name from the claims; made unique by `account_for`."""
    for candidate in (claims.get("preferred_username"), claims.get("email")):
        if isinstance(candidate, str) and candidate:
            cleaned = _NAME_CHARS.sub("-", candidate.split("@")[0]).strip("-.")[:90]
            if cleaned:
                return cleaned
    return "shopper"


async def account_for(
    request: web.Request, issuer: str, claims: dict[str, Any]
) -> tuple[str, int, bool]:
    """(account, its session version, whether it is new) linked to this subject.

    A first sign-in creates an account and then claims the subject with one insert that only
    one writer can win; a sign-in that loses the race (the same person signing in from two tabs
    at once) removes the account it made and uses the winner's, so one person gets one account.
    """
    hashcart = hashcart_of(request)
    key = f"{issuer}|{claims['sub']}"
    known = await hashcart.kv.get(KV_NAMESPACE, key)
    if isinstance(known, str):
        version = await hashcart.accounts.session_version(known)
        if version is not None:
            return known, version, False
        log.info("oidc: the account linked to %s is gone; making a new one", key)
        await hashcart.kv.delete(KV_NAMESPACE, key)
    base = account_name_from(claims)
    for attempt in range(1, 21):
        name = base if attempt == 1 else f"{base}-{attempt}"
        try:
            created = await hashcart.accounts.create(name)
            break
        except Conflict:
            continue
    else:
        created = await hashcart.accounts.create(f"{base}-{secrets.token_hex(4)}")
    account_id = str(created["id"])
    winner = await _claim_subject(hashcart.engine, key, account_id)
    if winner != account_id:
        with contextlib.suppress(NotFound):
            await hashcart.accounts.delete(account_id)
        version = await hashcart.accounts.session_version(winner)
        return winner, version or 0, False
    return account_id, 0, True


async def _claim_subject(engine: AsyncEngine, key: str, account_id: str) -> str:
    """Link the subject to `account_id` unless it is linked already; returns the linked one."""
    claim = (
        dialect_insert(engine, plugin_kv)
        .values(namespace=KV_NAMESPACE, key=key, value=account_id, expires_at=None)
        .on_conflict_do_nothing(index_elements=[plugin_kv.c.namespace, plugin_kv.c.key])
    )
    async with engine.begin() as conn:
        if (await conn.execute(claim)).rowcount == 1:
            return account_id
        linked = await conn.scalar(
            sa.select(plugin_kv.c.value).where(
                plugin_kv.c.namespace == KV_NAMESPACE, plugin_kv.c.key == key
            )
        )
    return str(linked)


def add_routes(app: web.Application) -> None:
    settings = load_settings(OidcSettings)
    hashcart = app[HASHCART_KEY]
    app[OIDC_KEY] = OidcState(
        settings=settings,
        provider=Provider(settings, hashcart.http_timeout) if settings.configured else None,
        cookie=app[CODEC_KEY].cookie("hashcart_oidc", "hashcart-oidc-flow", FLOW_SECONDS),
    )
    if app[OIDC_KEY].provider is not None:
        app[SIGNIN_BUTTON_KEY] = settings.name
    app.router.add_get(START_PATH, start)
    app.router.add_get(CALLBACK_PATH, callback)
