"""Browser sessions: a signed, HttpOnly, SameSite=Lax cookie carrying the account and a CSRF token.

The cookie is signed with itsdangerous (HMAC-SHA1 over a secret key, with a timestamp so old
cookies expire even if a browser keeps them). Nothing secret lives in it: the account id and the
CSRF token are only useful to the browser they were given to. The server keeps no session table:
the cookie carries the account's session version, and raising that version in the database
(sign-out everywhere, a new password) ends every cookie issued before; a deleted account ends its
sessions by failing the lookup. A session a shop's `hashcart_authenticate` started is marked as
such, so the shop is asked again on every request and its answer changing ends it.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from hashcart.config import HashcartSettingsBase, check_secret, load_settings

log = logging.getLogger(__name__)

COOKIE = "hashcart_session"
#: Set on a successful sign-in; tells the sign-in limits this browser's owner from strangers.
DEVICE_COOKIE = "hashcart_device"
DEVICE_DAYS = 365
CSRF_FIELD = "csrf"


class WebSettings(HashcartSettingsBase):
    """Settings of the web pages (`HASHCART_SESSION_*`, `HASHCART_SIGNIN_*`, `HASHCART_LIVE_*`)."""

    model_config = SettingsConfigDict(env_prefix="HASHCART_", extra="ignore")

    session_secret: SecretStr | None = Field(
        default=None, description="signs session cookies; unset = random per process"
    )
    session_days: int = Field(default=14, ge=1, le=365)
    signin_attempts: int = Field(
        default=5, ge=1, description="failed sign-ins per account name per window"
    )
    signin_attempts_per_address: int = Field(default=20, ge=1)
    signin_window_minutes: int = Field(default=15, ge=1, le=1440)
    signups_per_address_per_hour: int = Field(default=10, ge=1)
    live_streams_per_account: int = Field(
        default=4, ge=1, description="open live-update streams per account on one node"
    )
    live_streams_per_node: int = Field(
        default=500, ge=1, description="open live-update streams on one node"
    )

    @field_validator("session_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        """A guessable secret lets anyone sign a session cookie for any account."""
        if value is None or not value.get_secret_value():
            return None
        check_secret(value.get_secret_value())
        return value


@dataclass
class Session:
    """What the cookie says: who is signed in (if anyone), with which session version of the
    account, whether a shop's sign-in vouched for it, and the CSRF token of this browser."""

    account_id: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    dirty: bool = False
    version: int = 0
    via_shop: bool = False

    def sign_in(self, account_id: str | None, version: int, *, via_shop: bool = False) -> None:
        """A new identity (or none) gets a new CSRF token, so a token seen before is worthless."""
        self.account_id, self.version, self.via_shop = account_id, version, via_shop
        self.csrf = secrets.token_urlsafe(24)
        self.dirty = True

    def sign_out(self) -> None:
        self.sign_in(None, 0)

    def csrf_ok(self, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(given.encode(), self.csrf.encode())


@dataclass(frozen=True)
class SignedCookie:
    """An HttpOnly, SameSite=Lax cookie the server signed and dated: a forged, altered or
    expired one reads as absent."""

    name: str
    signer: URLSafeTimedSerializer
    max_age: int
    secure: bool

    def read(self, request: web.Request) -> Any:
        raw = request.cookies.get(self.name)
        if not raw:
            return None
        try:
            return self.signer.loads(raw, max_age=self.max_age)
        except BadSignature:
            return None

    def write(self, response: web.StreamResponse, value: Any, path: str) -> None:
        response.set_cookie(
            self.name,
            self.signer.dumps(value),
            max_age=self.max_age,
            path=path,
            httponly=True,
            samesite="Lax",
            secure=self.secure,
        )

    def drop(self, response: web.StreamResponse, path: str) -> None:
        response.del_cookie(self.name, path=path)


class SessionCodec:
    """Reads and writes the session cookie, and makes the other signed cookies."""

    def __init__(self, settings: WebSettings, *, secure: bool) -> None:
        secret = settings.session_secret.get_secret_value() if settings.session_secret else None
        if not secret:
            log.warning(
                "HASHCART_SESSION_SECRET is not set: using a random secret, so sessions end "
                "when the server restarts and differ between nodes"
            )
            secret = secrets.token_urlsafe(32)
        self._secret = secret
        self.secure = secure
        self._session = self.cookie(COOKIE, "hashcart-session", settings.session_days * 86400)
        self._device = self.cookie(DEVICE_COOKIE, "hashcart-device", DEVICE_DAYS * 86400)

    def cookie(self, name: str, salt: str, max_age: int) -> SignedCookie:
        """A cookie signed with the session secret under a salt of its own, so no cookie's
        value is ever accepted as another's."""
        signer = URLSafeTimedSerializer(self._secret, salt=salt)
        return SignedCookie(name, signer, max_age, self.secure)

    def remember_device(self, response: web.StreamResponse, name: str) -> None:
        """Mark this browser as one that signed in as `name`: its own sign-ins are then counted
        apart from a stranger's guesses at the name, so those cannot slow its owner down."""
        self._device.write(response, {"n": name.lower(), "d": secrets.token_urlsafe(16)}, "/signin")

    def device_of(self, request: web.Request, name: str) -> str | None:
        """This browser's device id when it signed in as `name` before, else None."""
        data = self._device.read(request)
        if isinstance(data, dict) and data.get("n") == name.lower():
            device = data.get("d")
            return device if isinstance(device, str) else None
        return None

    def load(self, request: web.Request) -> Session:
        data = self._session.read(request)
        if isinstance(data, dict) and isinstance(data.get("c"), str):
            account, version = data.get("a"), data.get("v")
            if isinstance(account, str) and isinstance(version, int):
                return Session(account, data["c"], version=version, via_shop=bool(data.get("h")))
            return Session(None, data["c"])
        return Session(dirty=True)

    def store(self, response: web.StreamResponse, session: Session) -> None:
        value = {
            "a": session.account_id,
            "c": session.csrf,
            "v": session.version,
            "h": session.via_shop,
        }
        self._session.write(response, value, "/")


CODEC_KEY: web.AppKey[SessionCodec] = web.AppKey("hashcart_session_codec", SessionCodec)
SETTINGS_KEY: web.AppKey[WebSettings] = web.AppKey("hashcart_web_settings", WebSettings)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install(app: web.Application, public_url: str) -> None:
    settings = app[SETTINGS_KEY] = load_settings(WebSettings)
    app[CODEC_KEY] = SessionCodec(settings, secure=public_url.startswith("https://"))


SESSION_KEY: web.RequestKey[Session] = web.RequestKey("hashcart_session", Session)


def session_of(request: web.Request) -> Session:
    session = request.get(SESSION_KEY)
    if session is None:
        session = request[SESSION_KEY] = request.app[CODEC_KEY].load(request)
    return session


def with_session(handler: Handler) -> Handler:
    """Load the session before the handler and write the cookie back if it changed."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        session = session_of(request)
        response = await handler(request)
        if session.dirty and not response.prepared:
            request.app[CODEC_KEY].store(response, session)
        return response

    return wrapped


async def checked_form(request: web.Request) -> dict[str, Any] | None:
    """The posted form when its CSRF token matches this browser's session, else None.

    A body that is no form at all (bytes that are not UTF-8, multipart without its boundary) is
    the sender's fault: a 400, never a 500.
    """
    try:
        form = await request.post()
    except ValueError:  # UnicodeDecodeError included
        error = {"error": {"code": "bad_form", "message": "the form could not be read"}}
        raise web.HTTPBadRequest(text=json.dumps(error), content_type="application/json") from None
    if not session_of(request).csrf_ok(form.get(CSRF_FIELD)):
        return None
    return {key: value for key, value in form.items() if isinstance(value, str)}
