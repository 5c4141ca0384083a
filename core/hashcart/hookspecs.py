"""Every hook a hashcart plugin can implement.

A plugin is any module or object with functions named after these specs and marked with
`hashcart.hookimpl`. A hook implementation may be `async def`: the core awaits what it returns.
Hooks marked *first result wins* stop at the first implementation that returns something other
than `None`; the rest collect every result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from aiohttp import web
    from pydantic_settings import BaseSettings

    from hashcart.app import Hashcart
    from hashcart.barcodes import Barcode
    from hashcart.commands import CartCommand, CartLine, Order, Outcome, Product, ProductRef
    from hashcart.platform import Platform, ReplyContent
    from hashcart.policy_api import PolicyContext
    from hashcart.signin import SignInProvider
    from hashcart.sources import ProductSource
    from hashcart.standin import Standin

hookspec = pluggy.HookspecMarker("hashcart")


# ---------------------------------------------------------------------------------------------
# Start-up: settings, platforms, web routes
# ---------------------------------------------------------------------------------------------


@hookspec
def hashcart_settings() -> type[BaseSettings] | None:
    """Contribute a pydantic-settings model holding this plugin's configuration.

    Called once at start-up, before any platform starts. Give the model an `env_prefix` such as
    `HASHCART_SLACK_` so its variables sit beside the core's. The core instantiates every model
    so that a bad value stops the server with one line naming the variable; read the values back
    with `hashcart.settings_for(MySettings)`.
    """


@hookspec
def hashcart_platform(hashcart: Hashcart) -> Platform | None:
    """Declare a platform that `hashcart serve` runs.

    Return a `hashcart.Platform` (a name, `start`, `stop`, `send_reply`) when the platform's
    credentials are configured, else `None` so the server starts without it. Called once per
    server, after settings are loaded; the object lives as long as the server.
    """


@hookspec
def hashcart_web_routes(
    hashcart: Hashcart, app: web.Application, platform: Platform | None
) -> None:
    """Add HTTP routes or sub-applications to the server, e.g. a webhook receiver.

    Called once before the application serves, with what this plugin returned from
    `hashcart_platform` (or None), so a webhook handler can be the platform's. Handlers should
    answer fast and leave slow work to `hashcart.submit`, which returns once the command is durable.
    """


@hookspec(firstresult=True)
async def hashcart_authenticate(request: web.Request, hashcart: Hashcart) -> str | None:
    """Sign a person in through the shop's own system: return their hashcart account id, or None.

    *First result wins.* Called on every request of the web pages; read the shop's session cookie
    or a header set by a trusted proxy. None offers hashcart's own sign-in. A session the hook
    started lasts only while it keeps returning the same account: another answer (the next
    customer at a shared computer, None once the shop signed them out) ends it at once.
    """


@hookspec
def hashcart_signin_provider(hashcart: Hashcart) -> SignInProvider | None:
    """Offer "Sign in with PLATFORM", so people can link that platform's identity by proving it.

    A public answer never carries a link token: it points to `{PUBLIC_URL}/link/{platform}`, where
    the person signs in with the platform (OAuth 2.0 with PKCE) and confirms the link. Return a
    `hashcart.SignInProvider` when the client credentials are configured, else `None`; called once
    while the web application is built. The platform must allow `{PUBLIC_URL}/link/{platform}/
    callback` as redirect URI, and the user id read must be the plugin's `CartCommand.user_id`.
    """


@hookspec
async def hashcart_doctor(hashcart: Hashcart) -> list[tuple[str, bool, str]] | None:
    """Check this plugin's platform for `hashcart doctor`: return (check, passed, detail) rows.

    Typical checks: the configuration is complete, the scopes or intents it needs are granted,
    the platform's API answers. Every outbound call must carry a timeout.
    """


# ---------------------------------------------------------------------------------------------
# Per command: product references, policy, lookups, observation
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def hashcart_product_from_url(url: str) -> ProductRef | None:
    """Turn a URL (or a barcode, when the reference is digits) into a `ProductRef`.

    *First result wins.* Return `None` for anything your store does not recognise, never raise:
    the core answers "that is not a product link" when every implementation returned `None`.
    Strip affiliate and tracking parameters; the canonical URL goes into `ProductRef.url`.
    """


@hookspec(firstresult=True)
def hashcart_product_from_barcode(barcode: Barcode, hashcart: Hashcart) -> ProductRef | None:
    """Turn a validated barcode (EAN-13, UPC-A, ISBN-13 or ISBN-10) into a `ProductRef`.

    *First result wins.* The core has already checked the check digit; `barcode.gtin13` is the
    13-digit form and `barcode.isbn10` is set for books. The core's own implementation (tried
    last) looks the barcode up in the local catalog; a store plugin maps it to its own ids (the
    `amazon` plugin turns an ISBN-10 into its ASIN).
    """


@hookspec(firstresult=True)
def hashcart_resolve_redirect(url: str) -> str | None:
    """Expand a short link (amzn.to, a.co, …) to the URL it redirects to.

    *First result wins.* The built-in implementation follows redirects over HTTP with a timeout
    and a cache; tests register one that answers from a table so they need no network.
    """


@hookspec(firstresult=True)
def hashcart_lookup_product(ref: ProductRef, hashcart: Hashcart) -> Product | None:
    """Look a `ProductRef` up into a `Product` with title, price and availability.

    *First result wins.* The core's own implementation (tried last) reads the local catalog;
    a store plugin can answer from the shop's API instead. Return `None` for an unknown product.
    """


@hookspec
def hashcart_product_sources(hashcart: Hashcart) -> ProductSource | Sequence[ProductSource] | None:
    """Declare live product sources (a store's API, product pages) for products not in the catalog.

    Called once at start-up. A product the operator's catalog lacks is fetched from the first
    source whose `handles(ref)` is true, and reused for `HASHCART_PRODUCT_TTL` seconds. A source
    raising `hashcart.SourceUnavailable` makes the command "try again", never "unknown".
    """


@hookspec(firstresult=True)
def hashcart_store_cart_url(
    store: str, lines: Sequence[CartLine], hashcart: Hashcart
) -> str | None:
    """The URL that carries these cart lines into the store's own cart (a hand-off), or None.

    *First result wins.* `store` is the part of the product ids before the colon (`amazon`, a
    shop's host); `lines` are the cart's lines of that store (for Amazon: of one marketplace). The
    URL appears as `handoff` in the admin API's cart, as a "Continue at <store>" button on the cart
    page, in `/cart list` answers, and answers `/cart checkout` for a store that places no orders.
    """


@hookspec(firstresult=True)
def hashcart_check_command(
    command: CartCommand, context: PolicyContext, hashcart: Hashcart
) -> Outcome | None:
    """Decide whether a command may run; return a refusing `Outcome` to stop it, else `None`.

    *First result wins.* Called inside the command's transaction, after duplicates are dropped,
    so counters kept through `context` are exact across nodes. Return `Outcome(..., silent=True)`
    to drop a command without an answer (a bot, a repeated rate-limit refusal).
    """


@hookspec
def hashcart_command_done(command: CartCommand, outcome: Outcome) -> None:
    """Observe a finished command after its transaction committed (metrics, audit, webhooks).

    Called for every command including refused ones; never for a redelivered duplicate.
    Exceptions are logged and do not affect the command.
    """


@hookspec(firstresult=True)
def hashcart_place_order(order: Order, hashcart: Hashcart) -> str | None:
    """Pass a confirmed order to the shop; return the shop's order reference, or None.

    *First result wins.* Called outside any transaction, possibly more than once for one order (a
    node died, the shop timed out): send `order.idempotency_key` so a repeat finds the first order,
    and finish within 15 s. Raise `hashcart.RetryLater` (or let a time-out or connection error out)
    while the shop is away: the order is asked again, with backoff or after your `retry_after`, for
    up to `HASHCART_RETRY_GIVE_UP_MINUTES`. Anything else refuses it and puts its lines back into
    the cart. Either way the user gets one answer.
    """


# ---------------------------------------------------------------------------------------------
# Replies
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def hashcart_format_reply(
    command: CartCommand, outcome: Outcome, locale: str, hashcart: Hashcart
) -> ReplyContent | None:
    """Word the answer to a command for its platform.

    *First result wins.* The core's default (tried last) takes the sentence for `outcome.code`
    from the message catalog in `locale`; a platform can return richer content (Slack Block Kit in
    `ReplyContent.extra`), worded with `hashcart.translate(locale, msgid, **params)`. Texts asking
    the user to send a command take how your users type it as `{confirm_command}` or
    `{forget_confirm_command}` (`/cart …` when not given). Mark a platform's implementation
    `@hashcart.for_platform(name)` to be called only for that platform's commands.
    """


# ---------------------------------------------------------------------------------------------
# Test kit
# ---------------------------------------------------------------------------------------------


@hookspec
def hashcart_standins() -> Standin | Sequence[Standin] | None:
    """Offer a local stand-in for this plugin's platform to the playground and the cluster harness.

    Implement it in the plugin's `testing` subpackage, which the core imports only when a stand-in
    is asked for, so a production server never loads test code. Return new, unstarted objects with
    a `platform` name, `start`, `stop` and `plugin_env()` (settings that point the plugin at it).
    """


def hook_names() -> list[str]:
    """Names of all hooks, for docs and `hashcart plugins`."""
    return sorted(name for name in globals() if name.startswith("hashcart_"))
