"""The authorization-code flow with PKCE (RFC 7636) as both sign-ins run it: with an OpenID
Connect provider (`hashcart.web.oidc`) and with a platform whose identity is linked by proof
(`hashcart.web.linking`).

The state and the PKCE verifier ride in a signed cookie of the browser that started the flow, so
a callback is believed only when its `state` matches that cookie's: one from another browser,
forged or replayed has nothing to match. Every refusal ends on a plain page naming the provider.
"""

from __future__ import annotations

import base64
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from yarl import URL

log = logging.getLogger(__name__)

#: Longest `code` or `state` accepted from the query; real ones are far shorter.
MAX_PARAM = 2048

#: A failed flow's page: status, title and text catalog ids, and the text's parameters.
Failed = Callable[..., Awaitable[web.Response]]


def authorization_url(
    endpoint: str,
    client_id: str,
    redirect_uri: str,
    scope: str,
    state: str,
    verifier: str,
    extra: Mapping[str, str],
) -> str:
    """Where the browser signs in; what `extra` asks for never overrides the flow's own terms."""
    query = {
        **extra,
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    return str(URL(endpoint).update_query(query))


def token_request(
    code: str, verifier: str, redirect_uri: str, client_id: str, secret: str, *, basic: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """The form and headers that trade `code` for tokens, authenticating the client in HTTP
    Basic (`basic`) or in the form, whichever the provider asks for."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    headers = {"Accept": "application/json"}
    if basic:
        # RFC 6749 §2.3.1: both parts are form-encoded before they go into Basic.
        pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form.update(client_id=client_id, client_secret=secret)
    return form, headers


def state_matches(request: web.Request, expected: str) -> bool:
    given = request.query.get("state", "")[:MAX_PARAM]
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class Refusals:
    """The pages a callback ends on when it signs nobody in, in one sign-in's words: the catalog
    texts are `web.error.{texts}_foreign.text` and the like."""

    texts: str
    failed: Failed

    async def _page(
        self, request: web.Request, status: int, kind: str, text: str, **params: str
    ) -> web.Response:
        title, own_text = f"web.error.proof_{kind}.title", f"web.error.{self.texts}_{text}"
        return await self.failed(request, status, title, own_text, **params)

    async def foreign(self, request: web.Request) -> web.Response:
        """A callback this browser's flow did not start (see `state_matches`)."""
        return await self._page(request, 400, "foreign", "foreign.text")

    async def code(self, request: web.Request, provider: str) -> str | web.Response:
        """The code the provider sent back, or the page saying why there is none."""
        error = request.query.get("error")
        if error == "access_denied":
            return await self._page(request, 403, "cancelled", "cancelled.text", provider=provider)
        code = request.query.get("code", "")
        if error or not code or len(code) > MAX_PARAM:
            log.warning("sign-in with %s: the provider answered error %r", provider, error)
            return await self._page(request, 502, "failed", "error", provider=provider)
        return code

    async def refused(self, request: web.Request, provider: str, *, reached: bool) -> web.Response:
        """The provider was unreachable (502), or it answered and its answer proves nobody."""
        status = 401 if reached else 502
        return await self._page(request, status, "failed", "failed.text", provider=provider)
