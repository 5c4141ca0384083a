"""Linking a platform identity to the signed-in account on the web.

`/link/{token}` is where a bot's private link reply points: its one-time token names the
identity. A public answer points at `/link/{platform}` instead, so a reader of the thread gains
nothing from it: there the person signs in with the platform (OAuth 2.0 authorization code with
PKCE, the endpoints declared by the platform's plugin through `hashcart_signin_provider`), the
platform says who they are, and a page names that identity and asks the signed-in hashcart
account to confirm with a POST carrying the CSRF token.

Two short-lived cookies, signed with the session secret, HttpOnly and scoped to
`/link/{platform}`, carry the state: the flow (state and PKCE verifier) until the callback, then
the proven identity until it is confirmed. The server keeps one row per started flow, which the
callback deletes: a state is good once, on any node, and a replayed or forged callback finds
nothing to match.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from sqlalchemy.exc import SQLAlchemyError

from hashcart.accounts.identities import LinkToken
from hashcart.config import HashcartSettingsBase, load_settings
from hashcart.errors import Conflict
from hashcart.signin import ProvenIdentity, SignInProvider
from hashcart.web.code_flow import Refusals, authorization_url, state_matches, token_request
from hashcart.web.pages import (
    current_account,
    forbidden,
    form_handler,
    identity_label,
    linked_elsewhere,
    message,
    page,
    platform_name,
    see_other,
)
from hashcart.web.server import HASHCART_KEY, hashcart_of
from hashcart.web.session import CODEC_KEY, Handler, SignedCookie, checked_form, with_session

log = logging.getLogger(__name__)

#: A platform name never has the length of a link token (`token_urlsafe(24)`: 32 characters).
PLATFORM_PATTERN = "[a-z][a-z0-9_]{0,30}"
#: How long a person may spend at the platform, and then on the confirmation page.
FLOW_SECONDS = 600
PROOF_SECONDS = 600
KV_NAMESPACE = "link-proof-flow"
DOWN = ("web.error.proof_down.title", "web.error.proof_down.text")
#: The window of `HASHCART_LINK_SIGNINS_PER_ADDRESS`.
STARTS_WINDOW = 600
MAX_USER_ID = 64
MAX_USER_NAME = 100
#: Largest token or userinfo answer read from a platform.
MAX_ANSWER_BYTES = 64 * 1024


class LinkProofSettings(HashcartSettingsBase):
    """`HASHCART_LINK_*`: how linking by proof may be used."""

    model_config = SettingsConfigDict(env_prefix="HASHCART_LINK_", extra="ignore")

    signins_per_address: int = Field(
        default=30,
        ge=1,
        description="sign-ins one address may start per 10 minutes; each keeps a row a while",
    )


class PlatformError(Exception):
    """The platform could not be reached or answered something unusable."""


class ProofRejected(Exception):
    """The platform answered, and the answer proves nobody."""


@dataclass
class LinkProofState:
    """The sign-in providers by platform and the two cookies, built once per application."""

    providers: dict[str, SignInProvider]
    settings: LinkProofSettings
    flow: SignedCookie
    proof: SignedCookie


LINK_PROOF_KEY: web.AppKey[LinkProofState] = web.AppKey("hashcart_link_proof", LinkProofState)
ProviderHandler = Callable[[web.Request, SignInProvider], Awaitable[web.Response]]


def _base(request: web.Request) -> str:
    return f"/link/{request.match_info['platform']}"


def _redirect_uri(request: web.Request, platform: str) -> str:
    return hashcart_of(request).settings.public_url.rstrip("/") + f"/link/{platform}/callback"


def _for_platform(handler: ProviderHandler) -> Handler:
    """A `/link/{platform}` handler, run with the platform's sign-in; a 404 without one."""

    @with_session
    async def found(request: web.Request) -> web.Response:
        provider = request.app[LINK_PROOF_KEY].providers.get(request.match_info["platform"])
        if provider is not None:
            return await handler(request, provider)
        params = {"platform": platform_name(request.match_info["platform"])}
        cart = {"url": "/cart", "label": "web.next.cart"}
        text = "web.error.proof_not_offered"
        return await message(request, 404, "web.error.not_found", text, params, next_step=cart)

    return found


async def _failed(
    request: web.Request, status: int, title: str, text: str, *, proof: bool = False, **params: Any
) -> web.Response:
    """A failed link's page; it drops the flow cookie, or the proof cookie (`proof`)."""
    again = {"url": _base(request), "label": "web.next.start_again"}
    response = await message(request, status, title, text, params, next_step=again)
    state = request.app[LINK_PROOF_KEY]
    (state.proof if proof else state.flow).drop(response, _base(request))
    return response


REFUSALS = Refusals("proof", _failed)


@_for_platform
async def start(request: web.Request, provider: SignInProvider) -> web.Response:
    """Send the browser to the platform's sign-in, remembering the state and PKCE verifier."""
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    hashcart = hashcart_of(request)
    try:
        started = await hashcart.counters.hit(
            f"link-proof:addr:{request.remote or 'unknown'}", STARTS_WINDOW
        )
        if started > request.app[LINK_PROOF_KEY].settings.signins_per_address:
            response = await message(
                request, 429, "web.error.starts.title", "web.error.starts.text", next_step=None
            )
            response.headers["Retry-After"] = str(STARTS_WINDOW)
            return response
        await hashcart.kv.put(KV_NAMESPACE, state, provider.platform, ttl=FLOW_SECONDS)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("link-proof: cannot start a sign-in: %s", exc)
        return await _failed(request, 503, *DOWN)
    location = authorization_url(
        provider.authorize_url,
        provider.client_id,
        _redirect_uri(request, provider.platform),
        provider.scope,
        state,
        verifier,
        provider.authorize_params,
    )
    response = see_other(location)
    flow = {"p": provider.platform, "s": state, "v": verifier}
    request.app[LINK_PROOF_KEY].flow.write(response, flow, _base(request))
    return response


def _flow_of(request: web.Request, platform: str) -> tuple[str, str] | None:
    """(state, verifier) of the flow this browser started for `platform`, if still valid."""
    data = request.app[LINK_PROOF_KEY].flow.read(request)
    found = data if isinstance(data, dict) and data.get("p") == platform else {}
    state, verifier = found.get("s"), found.get("v")
    if isinstance(state, str) and isinstance(verifier, str) and state and verifier:
        return state, verifier
    return None


@_for_platform
async def callback(request: web.Request, provider: SignInProvider) -> web.Response:
    """The platform sends the browser back: check the state, learn who signed in, keep it."""
    flow = _flow_of(request, provider.platform)
    if flow is None or not state_matches(request, flow[0]):
        return await REFUSALS.foreign(request)
    state, verifier = flow
    hashcart = hashcart_of(request)
    try:
        fresh = await hashcart.kv.delete(KV_NAMESPACE, state)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("link-proof: cannot check the flow: %s", exc)
        return await _failed(request, 503, *DOWN)
    if not fresh:
        return await _failed(
            request, 400, "web.error.proof_used.title", "web.error.proof_used.text"
        )
    code = await REFUSALS.code(request, provider.name)
    if not isinstance(code, str):
        return code
    try:
        proven = await _who_signed_in(request, provider, code, verifier)
    except (PlatformError, ProofRejected) as exc:
        log.warning("link-proof: %s sign-in refused: %s", provider.platform, exc)
        hashcart.count_platform_error(provider.platform, f"signin_{type(exc).__name__}")
        reached = isinstance(exc, ProofRejected)
        return await REFUSALS.refused(request, provider.name, reached=reached)
    response = see_other(f"/link/{provider.platform}/confirm")
    cookies = request.app[LINK_PROOF_KEY]
    cookies.flow.drop(response, _base(request))
    proof = {"p": provider.platform, "u": proven.user_id, "n": proven.user_name}
    cookies.proof.write(response, proof, _base(request))
    return response


async def _who_signed_in(
    request: web.Request, provider: SignInProvider, code: str, verifier: str
) -> ProvenIdentity:
    """Trade the code for an access token, then ask the platform whose it is."""
    form, headers = token_request(
        code,
        verifier,
        _redirect_uri(request, provider.platform),
        provider.client_id,
        provider.client_secret,
        basic=provider.client_auth == "client_secret_basic",
    )
    timeout = hashcart_of(request).http_timeout
    async with aiohttp.ClientSession(timeout=timeout) as client:
        status, tokens = await _call(client, "POST", provider.token_url, data=form, headers=headers)
        access_token = tokens.get("access_token") if isinstance(tokens, dict) else None
        if not isinstance(access_token, str) or not access_token:
            error = tokens.get("error") if isinstance(tokens, dict) else None
            raise ProofRejected(f"token endpoint answered {status} without a token ({error})")
        bearer = {"Accept": "application/json", "Authorization": f"Bearer {access_token}"}
        status, answer = await _call(client, "GET", provider.userinfo_url, headers=bearer)
    if status != 200 or not isinstance(answer, dict):
        raise ProofRejected(f"userinfo answered {status}")
    try:
        proven = provider.identity(answer)
    except Exception as exc:  # a plugin's reader must not turn a sign-in into a 500
        log.exception("link-proof: reading the %s userinfo answer failed", provider.platform)
        raise ProofRejected(f"the userinfo answer could not be read: {exc!r}") from exc
    if proven is None or not proven.user_id or len(proven.user_id) > MAX_USER_ID:
        raise ProofRejected("the userinfo answer names nobody usable")
    user_name = (proven.user_name or "")[:MAX_USER_NAME] or None
    return ProvenIdentity(proven.user_id, user_name)


async def _call(
    client: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    try:
        async with client.request(method, url, **kwargs) as response:
            if response.status >= 500 or response.status == 429:
                raise PlatformError(f"{method} {url} answered {response.status}")
            raw = await response.content.read(MAX_ANSWER_BYTES + 1)
            if len(raw) > MAX_ANSWER_BYTES:
                raise PlatformError(f"{method} {url} answered more than {MAX_ANSWER_BYTES} bytes")
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PlatformError(f"{method} {url} failed: {exc!r}") from exc
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


async def _proven(request: web.Request, platform: str) -> ProvenIdentity | web.Response:
    """The identity this browser proved on `platform`, or the page asking to prove it again."""
    data = request.app[LINK_PROOF_KEY].proof.read(request)
    found = data if isinstance(data, dict) and data.get("p") == platform else {}
    user_id, user_name = found.get("u"), found.get("n")
    if isinstance(user_id, str) and user_id:
        return ProvenIdentity(user_id, user_name if isinstance(user_name, str) else None)
    gone = ("web.error.no_proof.title", "web.error.no_proof.text")
    return await _failed(request, 410, *gone, minutes=PROOF_SECONDS // 60, proof=True)


@_for_platform
async def confirm_page(request: web.Request, provider: SignInProvider) -> web.Response:
    """Name the proven identity and ask the signed-in account to confirm the link."""
    proven = await _proven(request, provider.platform)
    if isinstance(proven, web.Response):
        return proven
    hashcart = hashcart_of(request)
    return await page(
        request,
        "link_proof.html",
        who=identity_label(provider.platform, proven.user_id, proven.user_name),
        user_id=proven.user_id,
        platform=provider.name,
        action=f"/link/{provider.platform}/confirm",
        next=f"/link/{provider.platform}/confirm",
        pending=await hashcart.accounts.pending_count(provider.platform, proven.user_id),
        proof_minutes=PROOF_SECONDS // 60,
    )


@_for_platform
async def confirm(request: web.Request, provider: SignInProvider) -> web.Response:
    """Link the proven identity to the signed-in account; what it added before comes along."""
    form = await checked_form(request)
    if form is None:
        return await forbidden(request)
    proven = await _proven(request, provider.platform)
    if isinstance(proven, web.Response):
        return proven
    account = await current_account(request)
    if account is None:
        return see_other(f"/link/{provider.platform}/confirm")
    try:
        await hashcart_of(request).link_identity(
            account["id"], provider.platform, proven.user_id, proven.user_name
        )
    except Conflict:
        who = identity_label(provider.platform, proven.user_id, proven.user_name)
        return await linked_elsewhere(request, who, provider.name)
    response = see_other("/cart?done=linked")
    request.app[LINK_PROOF_KEY].proof.drop(response, _base(request))
    return response


async def _usable_token(request: web.Request, token: str) -> LinkToken | web.Response:
    """The link token, or the page that says why it cannot be used."""
    found = await hashcart_of(request).accounts.token(token)
    if found is None:
        unknown = ("web.error.link_unknown.title", "web.error.link_unknown.text")
        return await message(request, 404, *unknown)
    if not found.usable:
        minutes = hashcart_of(request).settings.link_token_minutes
        expired = ("web.error.link_expired.title", "web.error.link_expired.text")
        return await message(request, 410, *expired, {"minutes": minutes})
    return found


@with_session
async def link_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    found = await _usable_token(request, token)
    if isinstance(found, web.Response):
        return found
    hashcart = hashcart_of(request)
    return await page(
        request,
        "link.html",
        who=identity_label(found.platform, found.user_id, found.user_name),
        platform=platform_name(found.platform),
        token=token,
        next=f"/link/{token}",
        pending=await hashcart.accounts.pending_count(found.platform, found.user_id),
    )


@form_handler
async def confirm_link(request: web.Request, form: dict[str, Any]) -> web.Response:
    token = request.match_info["token"]
    account = await current_account(request)
    if account is None:
        return see_other(f"/link/{token}")
    hashcart = hashcart_of(request)
    claimed = await hashcart.accounts.claim_token(token)
    if claimed is None:
        found = await _usable_token(request, token)
        return found if isinstance(found, web.Response) else see_other(f"/link/{token}")
    try:
        await hashcart.link_identity(
            account["id"], claimed.platform, claimed.user_id, claimed.user_name
        )
    except Conflict:
        await hashcart.accounts.release_token(token)
        who = identity_label(claimed.platform, claimed.user_id, claimed.user_name)
        return await linked_elsewhere(request, who, platform_name(claimed.platform))
    return see_other("/cart?done=linked")


def _providers(app: web.Application) -> dict[str, SignInProvider]:
    hashcart = app[HASHCART_KEY]
    found: dict[str, SignInProvider] = {}
    for provider in filter(None, hashcart.plugins.hook.hashcart_signin_provider(hashcart=hashcart)):
        if found.setdefault(provider.platform, provider) is not provider:
            log.warning("link-proof: a second sign-in for %s is ignored", provider.platform)
    return found


def add_routes(app: web.Application) -> None:
    """Linking by proof first: its platform pattern never matches a link token."""
    codec = app[CODEC_KEY]
    app[LINK_PROOF_KEY] = LinkProofState(
        providers=_providers(app),
        settings=load_settings(LinkProofSettings),
        flow=codec.cookie("hashcart_link_flow", "hashcart-link-proof-flow", FLOW_SECONDS),
        proof=codec.cookie("hashcart_link_proof", "hashcart-link-proof-identity", PROOF_SECONDS),
    )
    base = "/link/{platform:" + PLATFORM_PATTERN + "}"
    app.router.add_get(base, start)
    app.router.add_get(base + "/callback", callback)
    app.router.add_get(base + "/confirm", confirm_page)
    app.router.add_post(base + "/confirm", confirm)
    app.router.add_get("/link/{token}", link_page)
    app.router.add_post("/link/{token}", confirm_link)
