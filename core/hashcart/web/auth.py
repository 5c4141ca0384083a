"""hashcart's own web accounts: sign up, sign in, sign out.

Passwords are hashed with Argon2id (argon2-cffi) in a worker thread, so a sign-in never stalls
the event loop. A failed sign-in reads the same whether the name exists or not, and an unknown
name still costs one hash check, so neither the words nor the timing tell which names exist.
Attempts are counted per account name and per client address in the database before the password
is checked (`SignInLimits`), so the limits hold across parallel requests, restarts and nodes; a
name under attack slows down rather than locking its owner out, and a browser that signed in as
the name before (a signed device cookie) is counted on its own, so strangers do not slow it.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncEngine

from hashcart.accounts import signin_name_key
from hashcart.errors import Conflict
from hashcart.store import dialect_insert
from hashcart.store.schema import web_signin_limits
from hashcart.web.oidc import add_routes as add_oidc_routes
from hashcart.web.pages import current_account, form_handler, message, page, safe_next, see_other
from hashcart.web.server import HASHCART_KEY, hashcart_of
from hashcart.web.session import CODEC_KEY, SETTINGS_KEY, session_of, with_session

#: The first attempt past a name's allowance waits this long, the next twice as long, …
DELAY_STEP_SECONDS = 2.0
MAX_DELAY_SECONDS = 60.0


def address_key(address: str) -> str:
    return f"addr:{address[:150]}"


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may check its password; if not, how long to wait."""

    admitted: bool
    retry_after: float = 0.0


class SignInLimits:
    """Sign-in attempts per key, admitted before the password hash is checked.

    One upsert per key both counts an attempt and decides whether it may go ahead, so however
    many guesses arrive at once (on however many nodes), at most the window's allowance reach
    the password check. Past its allowance a name is not locked (anyone could then lock its owner
    out): each further attempt waits longer than the one before, up to `MAX_DELAY_SECONDS`; an
    address past its allowance waits for the window to end.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def admit(
        self, key: str, allowance: int, window_seconds: int, *, slow_down: bool
    ) -> Verdict:
        """Count one attempt against `key` unless it must wait.

        `slow_down`: past the allowance, admit one attempt per growing delay (account names);
        otherwise admit none until the window ends (addresses).
        """
        now = time.time()
        start = int(now // window_seconds) * window_seconds
        table = web_signin_limits
        # `next_at` 0: the next attempt may come at once. (Not `now`: a request that read the
        # clock earlier but commits later would find itself in the future and be refused.)
        insert = dialect_insert(self._engine, table).values(
            key=key, window_start=start, count=1, next_at=0.0
        )
        new_window = table.c.window_start != insert.excluded.window_start
        counted = sa.case((new_window, 1), else_=table.c.count + 1)
        past = counted - allowance
        if slow_down:
            # 1, 2, 4, … seconds: the doubling is a CASE ladder so both databases can run it.
            ladder = [(past <= n, DELAY_STEP_SECONDS * 2**n) for n in range(5)]
            delay = sa.case(*ladder, else_=MAX_DELAY_SECONDS)
            next_at = sa.case((past < 0, 0.0), else_=now + delay)
        else:
            next_at = sa.case((past < 0, 0.0), else_=float(start + window_seconds))
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"count": counted, "window_start": start, "next_at": next_at},
            where=sa.or_(new_window, table.c.next_at <= now),
        ).returning(table.c.count)
        async with self._engine.begin() as conn:
            admitted = (await conn.execute(statement)).first()
            if admitted is not None:
                return Verdict(True)
            wait = await conn.scalar(sa.select(table.c.next_at).where(table.c.key == key))
        return Verdict(False, max(1.0, float(wait or now) - now))

    async def refund(self, key: str) -> None:
        """Take back one counted attempt (it succeeded): many people signing in from one
        address (an office, a school) use up nothing."""
        table = web_signin_limits
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(table)
                .where(table.c.key == key, table.c.count > 0)
                .values(count=table.c.count - 1, next_at=0.0)
            )

    async def clear(self, key: str) -> None:
        """A successful sign-in: the name's earlier failures no longer slow its owner down."""
        async with self._engine.begin() as conn:
            await conn.execute(sa.delete(web_signin_limits).where(web_signin_limits.c.key == key))


LIMITS_KEY: web.AppKey[SignInLimits] = web.AppKey("hashcart_signin_limits", SignInLimits)

NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
#: What is kept of a typed name (it is shown again on the form and counted).
MAX_NAME_TYPED = 150
MIN_PASSWORD = 8
MAX_PASSWORD = 1024

_hasher = PasswordHasher()
#: Verified against when the name is unknown, so that answer takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("hashcart-no-such-account")

SIGNIN_FAILED = "web.error.signin_failed"


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def _address(request: web.Request) -> str:
    return request.remote or "unknown"


@with_session
async def signin_page(request: web.Request) -> web.Response:
    return await page(request, "signin.html", next=safe_next(request.query.get("next")))


async def _signin_again(
    request: web.Request, status: int, error: str, next_path: str, name: str = "", **params: Any
) -> web.Response:
    """The sign-in page again with `error`, a catalog id filled in with `params`."""
    context = {"error": error, "error_params": params, "next": next_path, "name": name}
    return await page(request, "signin.html", status, **context)


async def _too_many(
    request: web.Request, wait: Verdict, text: str, next_path: str, name: str, **params: Any
) -> web.Response:
    response = await _signin_again(request, 429, text, next_path, name, **params)
    response.headers["Retry-After"] = str(max(1, math.ceil(wait.retry_after)))
    return response


@form_handler
async def signin(request: web.Request, form: dict[str, Any]) -> web.Response:
    next_path = safe_next(form.get("next"))
    name = form.get("name", "").strip()[:MAX_NAME_TYPED]
    password = form.get("password", "")
    settings = request.app[SETTINGS_KEY]
    accounts = hashcart_of(request).accounts
    limits = request.app[LIMITS_KEY]
    window = settings.signin_window_minutes * 60
    # Counted before the password is checked: parallel guesses cannot all slip past the limit.
    address, allowance = address_key(_address(request)), settings.signin_attempts_per_address
    by_address = await limits.admit(address, allowance, window, slow_down=False)
    if not by_address.admitted:
        minutes = math.ceil(by_address.retry_after / 60)
        text = "web.error.signins_by_address"
        return await _too_many(request, by_address, text, next_path, name, minutes=minutes)
    # A browser that signed in as this name before has an allowance of its own.
    device = request.app[CODEC_KEY].device_of(request, name)
    limit_key = f"device:{device}" if device else signin_name_key(name)
    by_name = await limits.admit(limit_key, settings.signin_attempts, window, slow_down=True)
    if not by_name.admitted:
        seconds = math.ceil(by_name.retry_after)
        text = "web.error.signins_by_name"
        return await _too_many(request, by_name, text, next_path, name, n=seconds)
    login = await accounts.login_of(name) if NAME.match(name) else None
    valid = await verify_password(login[1] if login else _DUMMY_HASH, password[:MAX_PASSWORD])
    if login is None or not valid:
        return await _signin_again(request, 401, SIGNIN_FAILED, next_path, name)
    account_id, stored = login
    await limits.clear(limit_key)
    await limits.refund(address)
    if _hasher.check_needs_rehash(stored):
        await accounts.set_password(account_id, await hash_password(password), end_sessions=False)
    version = await accounts.session_version(account_id)
    if version is None:  # deleted in the meantime
        return await _signin_again(request, 401, SIGNIN_FAILED, next_path, name)
    session_of(request).sign_in(account_id, version)
    response = see_other(next_path)
    request.app[CODEC_KEY].remember_device(response, name)
    return response


@form_handler
async def signup(request: web.Request, form: dict[str, Any]) -> web.Response:
    next_path = safe_next(form.get("next"))
    name = form.get("name", "").strip()
    password = form.get("password", "")
    if not NAME.match(name):
        return await _signin_again(request, 422, "web.error.bad_name", next_path)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return await _signin_again(
            request, 422, "web.error.short_password", next_path, count=MIN_PASSWORD
        )
    hashcart = hashcart_of(request)
    tries = await hashcart.counters.hit(f"web-signup:addr:{_address(request)}", 3600)
    if tries > request.app[SETTINGS_KEY].signups_per_address_per_hour:
        return await message(
            request, 429, "web.error.signups.title", "web.error.signups.text", next_step=None
        )
    try:
        created = await hashcart.accounts.create(name, await hash_password(password))
    except Conflict:
        return await _signin_again(request, 409, "web.error.name_taken", next_path)
    session_of(request).sign_in(created["id"], 0)
    response = see_other(next_path if next_path != "/cart" else "/cart?done=welcome")
    request.app[CODEC_KEY].remember_device(response, name)
    return response


@form_handler
async def signout(request: web.Request, form: dict[str, Any]) -> web.Response:
    # Only a session that still holds may end the others (not a cookie ended before).
    account = await current_account(request) if form.get("everywhere") == "yes" else None
    if account is not None:
        # Every cookie issued for this account so far, on any browser, stops working.
        hashcart = hashcart_of(request)
        await hashcart.accounts.end_sessions(account["id"])
        hashcart.cart_changes.changed([account["id"]])  # open cart pages end their streams
    session_of(request).sign_out()
    return see_other("/signin")


def add_routes(app: web.Application) -> None:
    app[LIMITS_KEY] = SignInLimits(app[HASHCART_KEY].engine)
    app.router.add_get("/signin", signin_page)
    app.router.add_post("/signin", signin)
    app.router.add_get("/signup", signin_page)
    app.router.add_post("/signup", signup)
    app.router.add_post("/signout", signout)
    add_oidc_routes(app)
