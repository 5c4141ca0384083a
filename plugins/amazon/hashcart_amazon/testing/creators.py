"""A local Amazon Creators API: the OAuth 2.0 token endpoint and `getItems`, in its wire format.

A client trades its credential for a bearer token (client credentials: a form to Cognito for
version 2.x, JSON to Login with Amazon for 3.x), then posts `getItems` with the marketplace in
`x-marketplace` and a camelCase JSON body; items the API cannot give come back as partial
`errors`, throttling as a 429. The kit's own tests hold this stand-in against the official SDK
(`amazon-creatorsapi-python-sdk`): it reads what the SDK sends and sends what the SDK reads.

    async with CreatorsStandin() as api:
        api.add_item("www.amazon.de", "B00X4WHP5E", "Echo Dot", "19.99", "EUR")
        env = api.env()             # HASHCART_AMAZON_* pointing here
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web

from hashcart.testing.standins import LocalServer

DEFAULT_CREDENTIAL_ID = "standin-credential"
DEFAULT_CREDENTIAL_SECRET = "standin-credential-secret"
DEFAULT_PARTNER_TAG = "hashcart-21"
TOKEN_SECONDS = 3600
MAX_ITEM_IDS = 10

#: The `getItems` resources the API knows, one family a line.
KNOWN_RESOURCES = frozenset(
    {
        "browseNodeInfo.browseNodes", "browseNodeInfo.browseNodes.ancestor",
        "browseNodeInfo.browseNodes.salesRank", "browseNodeInfo.websiteSalesRank",
        "customerReviews.count", "customerReviews.starRating",
        "images.primary.small", "images.primary.medium", "images.primary.large",
        "images.primary.highRes",
        "images.variants.small", "images.variants.medium", "images.variants.large",
        "images.variants.highRes",
        "itemInfo.byLineInfo", "itemInfo.contentInfo", "itemInfo.contentRating",
        "itemInfo.classifications", "itemInfo.externalIds", "itemInfo.features",
        "itemInfo.manufactureInfo", "itemInfo.productInfo", "itemInfo.technicalInfo",
        "itemInfo.title", "itemInfo.tradeInInfo",
        "parentASIN",
        "offersV2.listings.availability", "offersV2.listings.condition",
        "offersV2.listings.dealDetails", "offersV2.listings.isBuyBoxWinner",
        "offersV2.listings.loyaltyPoints", "offersV2.listings.merchantInfo",
        "offersV2.listings.price", "offersV2.listings.type",
    }
)  # fmt: skip

_ASIN = re.compile(r"B[0-9A-Z]{9}|[0-9]{9}[0-9X]")
_LOCALES = {"www.amazon.de": "de_DE", "www.amazon.co.uk": "en_GB", "www.amazon.fr": "fr_FR"}


@dataclass(slots=True)
class StandinItem:
    title: str
    amount: Decimal
    currency: str
    availability: str = "IN_STOCK"
    image: str | None = None


@dataclass(slots=True)
class GetItemsCall:
    """One `getItems` request as the stand-in received it."""

    marketplace: str
    body: dict[str, Any]
    authorization: str
    status: int = 200


@dataclass
class CreatorsStandin(LocalServer):
    credential_id: str = DEFAULT_CREDENTIAL_ID
    credential_secret: str = DEFAULT_CREDENTIAL_SECRET
    version: str = "2.1"
    partner_tag: str = DEFAULT_PARTNER_TAG
    #: The quota per credential: more `getItems` calls than this in one second are answered 429.
    requests_per_second: int | None = None
    #: Answer the next this many `getItems` calls with 429, as a throttled account sees.
    throttle_next: int = 0
    #: Seconds to wait before answering `getItems` (a slow API).
    delay: float = 0.0
    items: dict[tuple[str, str], StandinItem] = field(default_factory=dict)
    #: ASINs that exist but the API will not give out (adult products, some sellers' items).
    not_accessible: set[str] = field(default_factory=set)
    calls: list[GetItemsCall] = field(default_factory=list)
    tokens_issued: int = 0
    _tokens: dict[str, float] = field(default_factory=dict)
    _second: tuple[int, int] = (0, 0)

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/auth/o2/token", self._token)
        app.router.add_post("/catalog/v1/getItems", self._get_items)
        return app

    @property
    def auth_url(self) -> str:
        return f"{self.url}/auth/o2/token"

    def env(self, **overrides: str) -> dict[str, str]:
        """`HASHCART_AMAZON_*` for a client of this stand-in; `overrides` use short names."""
        values = {
            "credential_id": self.credential_id,
            "credential_secret": self.credential_secret,
            "credential_version": self.version,
            "partner_tag": self.partner_tag,
            "api_url": self.url,
            "auth_url": self.auth_url,
        } | overrides
        return {f"HASHCART_AMAZON_{key.upper()}": value for key, value in values.items()}

    def add_item(
        self,
        marketplace: str,
        asin: str,
        title: str,
        amount: str,
        currency: str,
        availability: str = "IN_STOCK",
    ) -> None:
        """Offer `asin` on `marketplace` (`www.amazon.com`, `www.amazon.de`, …)."""
        image = f"https://m.media-amazon.com/images/I/{asin}._SL160_.jpg"
        self.items[(marketplace, asin)] = StandinItem(
            title, Decimal(amount), currency, availability, image
        )

    def expire_tokens(self) -> None:
        """Make every token issued so far expired, as an hour later."""
        self._tokens = {token: 0.0 for token in self._tokens}

    async def _token(self, request: web.Request) -> web.Response:
        lwa = self.version.startswith("3.")
        if lwa:
            try:
                form: dict[str, Any] = json.loads(await request.text())
            except ValueError:
                return _oauth_error("invalid_request", 400)
        else:
            form = dict(await request.post())
        if form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type", 400)
        if form.get("scope") != ("creatorsapi::default" if lwa else "creatorsapi/default"):
            return _oauth_error("invalid_scope", 400)
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if not lwa and client_id is None and request.headers.get("Authorization"):
            # Cognito also takes client_secret_basic.
            try:
                basic = aiohttp.BasicAuth.decode(request.headers["Authorization"], "utf-8")
            except ValueError:
                return _oauth_error("invalid_client", 401)
            client_id, client_secret = basic.login, basic.password
        if not (
            secrets.compare_digest(str(client_id or ""), self.credential_id)
            and secrets.compare_digest(str(client_secret or ""), self.credential_secret)
        ):
            return _oauth_error("invalid_client", 401)
        token = secrets.token_urlsafe(24)
        self._tokens[token] = time.time() + TOKEN_SECONDS
        self.tokens_issued += 1
        return web.json_response(
            {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_SECONDS}
        )

    def _authorized(self, header: str) -> str | None:
        """The unauthorized reason, or None when the header carries a live token."""
        expected = re.fullmatch(r"Bearer ([A-Za-z0-9_\-]+)(?:, Version ([0-9.]+))?", header)
        if expected is None:
            return "MissingCredential"
        token, version = expected.groups()
        if version != (None if self.version.startswith("3.") else self.version):
            return "InvalidClient"
        expires = self._tokens.get(token)
        if expires is None:
            return "InvalidToken"
        if expires <= time.time():
            return "TokenExpired"
        return None

    async def _get_items(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization", "")
        marketplace = request.headers.get("x-marketplace", "")
        try:
            body = json.loads(await request.text())
        except ValueError:
            return _validation("The request body is not JSON.", "CannotParse")
        call = GetItemsCall(marketplace, body if isinstance(body, dict) else {}, authorization)
        self.calls.append(call)
        if self.delay:
            await asyncio.sleep(self.delay)
        reason = self._authorized(authorization)
        if reason is not None:
            call.status = 401
            return web.json_response(
                {"message": "Unauthorized", "reason": reason, "type": "UnauthorizedException"},
                status=401,
            )
        if self._throttled():
            call.status = 429
            return web.json_response(
                {"message": "Rate exceeded", "type": "ThrottleException"}, status=429
            )
        problem = self._invalid(marketplace, call.body)
        if problem is not None:
            call.status = 400
            return problem
        return web.json_response(self._answer(marketplace, call.body))

    def _throttled(self) -> bool:
        if self.throttle_next > 0:
            self.throttle_next -= 1
            return True
        if self.requests_per_second is None:
            return False
        second, count = self._second
        now = int(time.time())
        count = count + 1 if second == now else 1
        self._second = (now, count)
        return count > self.requests_per_second

    def _invalid(self, marketplace: str, body: dict[str, Any]) -> web.Response | None:
        if not re.fullmatch(r"www\.amazon\.[a-z.]+", marketplace):
            return _validation("x-marketplace is missing or unknown.", "FieldValidationFailed")
        if body.get("partnerTag") != self.partner_tag:
            return _validation("The partner tag is invalid.", "InvalidPartnerTag")
        ids = body.get("itemIds")
        if (
            not isinstance(ids, list)
            or not 1 <= len(ids) <= MAX_ITEM_IDS
            or not all(isinstance(i, str) for i in ids)
        ):
            return _validation("itemIds must hold 1 to 10 ids.", "FieldValidationFailed")
        resources = body.get("resources", [])
        if not isinstance(resources, list) or not set(resources) <= KNOWN_RESOURCES:
            return _validation("resources has an unknown value.", "FieldValidationFailed")
        unknown = set(body) - {
            "partnerTag",
            "itemIds",
            "condition",
            "currencyOfPreference",
            "languagesOfPreference",
            "properties",
            "resources",
        }
        if unknown:
            return _validation(f"Unknown fields {sorted(unknown)}.", "FieldValidationFailed")
        return None

    def _answer(self, marketplace: str, body: dict[str, Any]) -> dict[str, Any]:
        resources = set(body.get("resources", []))
        items: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        for asin in body["itemIds"]:
            if not _ASIN.fullmatch(asin):
                code, problem = "InvalidParameterValue", "provided in the request is invalid"
            elif asin in self.not_accessible:
                code, problem = "ItemNotAccessible", "is not accessible through the Creators API"
            elif (item := self.items.get((marketplace, asin))) is None:
                code, problem = "ItemNotFound", "provided in the request is not valid"
            else:
                items.append(_item(marketplace, asin, item, resources, body["partnerTag"]))
                continue
            errors.append({"code": code, "message": f"The ItemId {asin} {problem}."})
        answer: dict[str, Any] = {}
        if items:
            answer["itemsResult"] = {"items": items}
        if errors:
            answer["errors"] = errors
        return answer


def _item(
    marketplace: str, asin: str, item: StandinItem, resources: set[str], tag: str
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "asin": asin,
        "detailPageURL": f"https://{marketplace}/dp/{asin}?tag={tag}&linkCode=ogi&th=1&psc=1",
    }
    if "itemInfo.title" in resources:
        found["itemInfo"] = {
            "title": {
                "displayValue": item.title,
                "label": "Title",
                "locale": _LOCALES.get(marketplace, "en_US"),
            }
        }
    if "images.primary.medium" in resources and item.image:
        found["images"] = {"primary": {"medium": {"url": item.image, "height": 160, "width": 160}}}
    listing: dict[str, Any] = {}
    if "offersV2.listings.price" in resources:
        listing["price"] = {
            "money": {
                "amount": float(item.amount),
                "currency": item.currency,
                "displayAmount": f"{item.amount} {item.currency}",
            }
        }
    if "offersV2.listings.availability" in resources:
        listing["availability"] = {
            "type": item.availability,
            "message": "In stock" if item.availability == "IN_STOCK" else "Currently unavailable",
            "minOrderQuantity": 1,
            "maxOrderQuantity": 30,
        }
    if listing and item.availability != "OUT_OF_STOCK":
        listing["isBuyBoxWinner"] = True
        found["offersV2"] = {"listings": [listing]}
    elif listing:
        # An item nobody sells now has no offer listing at all.
        found["offersV2"] = {"listings": []}
    return found


def _validation(message: str, reason: str) -> web.Response:
    return web.json_response(
        {"message": message, "reason": reason, "type": "ValidationException"}, status=400
    )


def _oauth_error(error: str, status: int) -> web.Response:
    return web.json_response({"error": error}, status=status)
