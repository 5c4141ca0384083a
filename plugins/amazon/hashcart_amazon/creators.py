"""Amazon products looked up live through the Creators API (the successor of PA-API 5.0).

Amazon's SDK for it is synchronous (requests), so this speaks the wire format itself: authlib
prepares the OAuth 2.0 client-credentials request and keeps the token with its expiry, aiohttp
carries both calls. Each `getItems` call asks one marketplace (the one the link named: an
amazon.de link is priced in EUR on www.amazon.de) for up to 10 ASINs, and first takes a slot of
the account's request quota from a counter in the database, so every node together stays within
it. Throttling, an outage or a credential Amazon refuses is `SourceUnavailable` ("try again");
an id Amazon does not know or will not give out is an unknown product.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from urllib.parse import parse_qsl

import aiohttp
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749 import OAuth2Token
from authlib.oauth2.rfc6749.parameters import prepare_token_request

import hashcart
from hashcart import Product, ProductRef, SourceUnavailable, __version__
from hashcart_amazon.settings import AmazonSettings
from hashcart_amazon.urls import CURRENCIES, STORE, canonical_url, marketplace_of_url

log = logging.getLogger(__name__)

#: `getItems` takes at most this many ids a call.
MAX_ITEM_IDS = 10
#: What a cart line needs of an item.
RESOURCES = (
    "itemInfo.title",
    "images.primary.medium",
    "offersV2.listings.price",
    "offersV2.listings.availability",
)
#: Offer availability types under which an item can be put into the cart now.
BUYABLE = frozenset({"IN_STOCK", "IN_STOCK_SCARCE", "LEADTIME", "AVAILABLE_DATE", "PREORDER"})
#: One call, the token request included, never takes longer than this.
CALL_TIMEOUT = aiohttp.ClientTimeout(total=5, connect=3)
#: A 429 without a Retry-After is tried again after this long (the quota is per second).
THROTTLE_PAUSE = 1.0
_MAX_ANSWER_BYTES = 2 * 1024 * 1024
_USER_AGENT = f"hashcart/{__version__} (Creators API)"


class Quota(Protocol):
    """A request quota shared by every node (`hashcart.counters` is one)."""

    async def wait_for_slot(
        self, key: str, per_window: int, window_seconds: int, max_wait: float
    ) -> float | None: ...


class CreatorsApiSource:
    """A `hashcart.ProductSource` for the `amazon` store."""

    name = "amazon-creators"
    max_batch = MAX_ITEM_IDS

    def __init__(self, settings: AmazonSettings, quota: Quota) -> None:
        assert settings.credential_id and settings.credential_secret and settings.partner_tag
        self._settings = settings
        self._quota = quota
        self._quota_key = f"amazon-creators:{settings.credential_id}"
        self._auth = ClientAuth(
            settings.credential_id,
            settings.credential_secret.get_secret_value(),
            "client_secret_post",
        )
        self._token: OAuth2Token | None = None
        self._token_lock = asyncio.Lock()

    def handles(self, ref: ProductRef) -> bool:
        return ref.store == STORE

    async def fetch(self, refs: Sequence[ProductRef]) -> Mapping[str, Product | None]:
        by_marketplace: dict[str, list[ProductRef]] = {}
        for ref in refs:
            by_marketplace.setdefault(marketplace_of_url(ref.url), []).append(ref)
        found: dict[str, Product | None] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.max_wait_seconds
        async with _session() as session:
            for marketplace, group in by_marketplace.items():
                for start in range(0, len(group), MAX_ITEM_IDS):
                    chunk = group[start : start + MAX_ITEM_IDS]
                    items = await self._get_items(session, marketplace, chunk, deadline)
                    for ref in chunk:
                        item = items.get(ref.sku)
                        found[ref.product_id] = (
                            None if item is None else product_of(item, ref.sku, marketplace)
                        )
        return found

    async def _get_items(
        self,
        session: aiohttp.ClientSession,
        marketplace: str,
        refs: Sequence[ProductRef],
        deadline: float,
    ) -> dict[str, Mapping[str, Any]]:
        """The items Amazon gave, by ASIN; ids it did not give are left out."""
        body = {
            "itemIds": [ref.sku for ref in refs],
            "partnerTag": self._settings.partner_tag,
            "resources": list(RESOURCES),
        }
        loop = asyncio.get_running_loop()
        refreshed = False
        while True:
            wait = await self._quota.wait_for_slot(
                self._quota_key,
                self._settings.requests_per_second,
                1,
                max(0.0, deadline - loop.time()),
            )
            if wait is not None:
                raise SourceUnavailable("Creators API quota in use", retry_after=wait)
            token = await self._access_token(session)
            status, answer, retry_after = await self._post(session, marketplace, body, token)
            if status == 200:
                return _items(answer)
            if status == 401 and not refreshed:
                # Expired or revoked early: one new token, then give up.
                refreshed = True
                self._token = None
                continue
            if status == 429:
                pause = retry_after if retry_after is not None else THROTTLE_PAUSE
                if loop.time() + pause <= deadline:
                    log.info("Creators API throttled; trying again in %.1f s", pause)
                    await asyncio.sleep(pause)
                    continue
                raise SourceUnavailable("Creators API throttled", retry_after=pause)
            reason = _reason(answer)
            if status in (400, 401, 403):
                # Not the product's fault: a partner tag or credential the operator must fix.
                log.error("Creators API refused the call (%d): %s", status, reason)
            raise SourceUnavailable(f"Creators API answered {status}: {reason}")

    async def _post(
        self, session: aiohttp.ClientSession, marketplace: str, body: dict[str, Any], token: str
    ) -> tuple[int, Any, float | None]:
        version = self._settings.credential_version
        bearer = f"Bearer {token}"
        if not version.startswith("3."):
            bearer += f", Version {version}"  # 2.x tokens name their version; 3.x do not
        headers = {
            "Authorization": bearer,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "x-marketplace": f"www.{marketplace}",
        }
        try:
            async with session.post(
                f"{self._settings.api_url}/catalog/v1/getItems", json=body, headers=headers
            ) as response:
                raw = await response.content.read(_MAX_ANSWER_BYTES + 1)
                retry_after = hashcart.retry_after(response.headers, maximum=60.0)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SourceUnavailable(f"Creators API unreachable: {type(exc).__name__}") from exc
        if len(raw) > _MAX_ANSWER_BYTES:
            raise SourceUnavailable("Creators API answer too large")
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise SourceUnavailable(f"Creators API answered {status} without JSON") from exc
        return status, answer, retry_after

    async def check_credentials(self) -> None:
        """Ask for a token now (for `hashcart doctor`); raises `SourceUnavailable` if refused."""
        async with _session() as session:
            self._token = None
            await self._access_token(session)

    async def _access_token(self, session: aiohttp.ClientSession) -> str:
        """The cached token, or a new one; concurrent callers share one token request."""
        async with self._token_lock:
            if self._token is None or self._token.is_expired(leeway=30):
                self._token = await self._new_token(session)
            return str(self._token["access_token"])

    async def _new_token(self, session: aiohttp.ClientSession) -> OAuth2Token:
        lwa = self._settings.credential_version.startswith("3.")
        scope = "creatorsapi::default" if lwa else "creatorsapi/default"
        url = self._settings.token_url
        form = prepare_token_request("client_credentials", scope=scope)
        url, headers, body = self._auth.prepare(
            "POST", url, {"Content-Type": "application/x-www-form-urlencoded"}, form
        )
        if lwa:
            # Login with Amazon takes the same fields as JSON.
            fields = dict(parse_qsl(body))
            headers, body = {"Content-Type": "application/json"}, json.dumps(fields)
        try:
            async with session.post(url, data=body, headers=headers) as response:
                raw = await response.content.read(64 * 1024)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SourceUnavailable(f"Creators API token endpoint unreachable: {exc!r}") from exc
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = {}
        if status != 200 or not isinstance(answer, dict) or "access_token" not in answer:
            error = answer.get("error") if isinstance(answer, dict) else None
            log.error("Creators API token request refused (%d): %s", status, error)
            raise SourceUnavailable(f"Creators API token request answered {status}: {error}")
        return OAuth2Token.from_dict(answer)


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=CALL_TIMEOUT, headers={"User-Agent": _USER_AGENT})


def product_of(item: Mapping[str, Any], asin: str, marketplace: str) -> Product:
    """A `Product` from one `getItems` item: title, primary image, buy-box price, availability."""
    ref = ProductRef(STORE, asin, canonical_url(marketplace, asin))
    title = _dig(item, "itemInfo", "title", "displayValue")
    image = _dig(item, "images", "primary", "medium", "url")
    listings = _dig(item, "offersV2", "listings")
    listing: Mapping[str, Any] = {}
    if isinstance(listings, list) and listings:
        winners = [x for x in listings if isinstance(x, dict) and x.get("isBuyBoxWinner")]
        first = winners[0] if winners else listings[0]
        listing = first if isinstance(first, dict) else {}
    amount = _dig(listing, "price", "money", "amount")
    currency = _dig(listing, "price", "money", "currency")
    kind = _dig(listing, "availability", "type")
    cents = _cents(amount)
    available = cents is not None and (kind is None or kind in BUYABLE)
    return Product(
        ref,
        title if isinstance(title, str) and title.strip() else asin,
        cents or 0,
        currency
        if isinstance(currency, str) and len(currency) == 3
        else CURRENCIES.get(marketplace, "USD"),
        available,
        image if isinstance(image, str) and image.startswith("https://") else None,
    )


def _items(answer: Any) -> dict[str, Mapping[str, Any]]:
    items = _dig(answer, "itemsResult", "items")
    found: dict[str, Mapping[str, Any]] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("asin"), str):
            found[item["asin"]] = item
    for error in _dig(answer, "errors") or []:
        if isinstance(error, dict):
            log.debug("Creators API: %s %s", error.get("code"), str(error.get("message"))[:200])
    return found


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _cents(amount: Any) -> int | None:
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        return None
    try:
        cents = (Decimal(str(amount)) * 100).quantize(Decimal(1))
    except (InvalidOperation, ValueError):
        return None
    return int(cents) if 0 <= cents < 10**9 else None


def _reason(answer: Any) -> str:
    if not isinstance(answer, dict):
        return "?"
    return str(answer.get("reason") or answer.get("type") or answer.get("message") or "?")[:200]
