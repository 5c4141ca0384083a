"""The authorization-code flow with PKCE and its two routes.

What the callback must check against (state, nonce, PKCE verifier, where to go next) rides in a
short-lived signed HttpOnly cookie scoped to the callback, signed with the session secret: the
server keeps no table of flows, any node can finish a flow another started, and a callback that
did not start in this browser has nothing to match. Every failure ends on a plain page and signs
nobody in.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.exc import SQLAlchemyError

from hashcart.config import load_settings
from hashcart.web.oidc.binding import account_for
from hashcart.web.oidc.provider import Flow, OidcSettings, Provider, ProviderError, TokenRejected
from hashcart.web.pages import SIGNIN_BUTTON_KEY, message, safe_next, see_other
from hashcart.web.server import HASHCART_KEY, hashcart_of
from hashcart.web.session import SETTINGS_KEY, session_of, with_session

log = logging.getLogger(__name__)

START_PATH = "/signin/oidc"
CALLBACK_PATH = "/signin/oidc/callback"
FLOW_COOKIE = "hashcart_oidc"
#: How long a person may spend at the provider before the flow is void.
FLOW_SECONDS = 600


@dataclass
class OidcState:
    """What the routes share: the settings, the provider (when configured), the cookie signer."""

    settings: OidcSettings
    provider: Provider | None
    signer: URLSafeTimedSerializer
    secure: bool


OIDC_KEY: web.AppKey[OidcState] = web.AppKey("hashcart_oidc", OidcState)


def button_name(app: web.Application) -> str | None:
    """The provider's name for the sign-in button, or None when no provider is configured."""
    state = app.get(OIDC_KEY)
    return state.settings.name if state is not None and state.provider is not None else None


def _redirect_uri(request: web.Request) -> str:
    return hashcart_of(request).settings.public_url.rstrip("/") + CALLBACK_PATH


async def _not_configured(request: web.Request) -> web.Response:
    return await message(
        request,
        404,
        "web.error.not_found",
        "web.error.oidc_not_offered",
        next_step={"url": "/signin", "label": "web.next.signin"},
    )


async def _failed(
    request: web.Request, status: int, title: str, text: str, **params: Any
) -> web.Response:
    """A failed sign-in's page; `title` and `text` are catalog ids filled in with `params`."""
    response = await message(
        request,
        status,
        title,
        text,
        params,
        next_step={"url": "/signin", "label": "web.next.back_to_signin"},
    )
    response.del_cookie(FLOW_COOKIE, path=START_PATH)
    return response


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
    try:
        location = await state.provider.authorization_url(flow, _redirect_uri(request))
    except ProviderError as exc:
        log.warning("oidc: cannot start a sign-in: %s", exc)
        hashcart_of(request).count_platform_error("oidc", "discovery")
        return await _failed(
            request,
            502,
            "web.error.oidc_down.title",
            "web.error.oidc_silent",
            provider=state.settings.name,
        )
    response = see_other(location)
    response.set_cookie(
        FLOW_COOKIE,
        state.signer.dumps(flow.dump()),
        max_age=FLOW_SECONDS,
        path=START_PATH,
        httponly=True,
        samesite="Lax",
        secure=state.secure,
    )
    return response


def _flow_of(request: web.Request, signer: URLSafeTimedSerializer) -> Flow | None:
    raw = request.cookies.get(FLOW_COOKIE)
    if not raw:
        return None
    try:
        return Flow.load(signer.loads(raw, max_age=FLOW_SECONDS))
    except BadSignature:
        return None


@with_session
async def callback(request: web.Request) -> web.Response:
    state = request.app[OIDC_KEY]
    provider = state.provider
    if provider is None:
        return await _not_configured(request)
    name = state.settings.name
    flow = _flow_of(request, state.signer)
    given_state = request.query.get("state", "")
    if flow is None or not hmac.compare_digest(given_state.encode(), flow.state.encode()):
        return await _failed(
            request,
            400,
            "web.error.proof_foreign.title",
            "web.error.oidc_foreign.text",
        )
    error = request.query.get("error")
    if error == "access_denied":
        return await _failed(
            request,
            403,
            "web.error.proof_cancelled.title",
            "web.error.oidc_cancelled.text",
            provider=name,
        )
    code = request.query.get("code")
    if error or not code:
        log.warning("oidc: the provider answered error %r", error)
        return await _failed(
            request, 502, "web.error.proof_failed.title", "web.error.oidc_error", provider=name
        )
    hashcart = hashcart_of(request)
    try:
        tokens = await provider.exchange(code, flow, _redirect_uri(request))
        claims = await provider.claims(tokens, flow.nonce)
    except (ProviderError, TokenRejected) as exc:
        log.warning("oidc: sign-in refused: %s", exc)
        hashcart.count_platform_error("oidc", type(exc).__name__)
        return await _failed(
            request,
            502 if isinstance(exc, ProviderError) else 401,
            "web.error.proof_failed.title",
            "web.error.oidc_failed.text",
            provider=name,
        )
    try:
        account_id, version, created = await account_for(request, provider.issuer, claims)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("oidc: could not record the sign-in: %s", exc)
        return await _failed(
            request,
            503,
            "web.error.oidc_down.title",
            "web.error.oidc_unfinished",
        )
    session_of(request).sign_in(account_id, version)
    next_path = flow.next_path
    response = see_other(next_path if not created or next_path != "/cart" else "/cart?done=welcome")
    response.del_cookie(FLOW_COOKIE, path=START_PATH)
    return response


def add_routes(app: web.Application) -> None:
    settings = load_settings(OidcSettings)
    secret = app[SETTINGS_KEY].session_secret
    hashcart = app[HASHCART_KEY]
    public_url = hashcart.settings.public_url
    app[OIDC_KEY] = OidcState(
        settings=settings,
        provider=Provider(settings, hashcart.http_timeout) if settings.configured else None,
        signer=URLSafeTimedSerializer(
            secret.get_secret_value() if secret else secrets.token_urlsafe(32),
            salt="hashcart-oidc-flow",
        ),
        secure=public_url.startswith("https://"),
    )
    if app[OIDC_KEY].provider is not None:
        app[SIGNIN_BUTTON_KEY] = settings.name
    app.router.add_get(START_PATH, start)
    app.router.add_get(CALLBACK_PATH, callback)
