"""The Creators API stand-in checked against Amazon's official Python SDK.

The SDK is synchronous (requests), so hashcart does not use it; it is installed for the tests only
(`pip install --no-deps amazon-creatorsapi-python-sdk`: its pins would downgrade urllib3). Here it
proves the stand-in's wire format both ways: the SDK's own client gets a token from the stand-in
and reads its `getItems` answers, and the SDK's models accept exactly what hashcart sends and
what the stand-in answers, field by field.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hashcart import ProductRef
from hashcart.store import create_engine, upgrade
from hashcart.store.counters import RateCounters
from hashcart_amazon.creators import RESOURCES, CreatorsApiSource
from hashcart_amazon.settings import AmazonSettings
from hashcart_amazon.testing import CreatorsStandin

sdk = pytest.importorskip("creatorsapi_python_sdk")

from creatorsapi_python_sdk.api.default_api import DefaultApi  # noqa: E402
from creatorsapi_python_sdk.api_client import ApiClient  # noqa: E402
from creatorsapi_python_sdk.exceptions import ApiException  # noqa: E402
from creatorsapi_python_sdk.models.get_items_request_content import (  # noqa: E402
    GetItemsRequestContent,
)
from creatorsapi_python_sdk.models.get_items_resource import GetItemsResource  # noqa: E402
from creatorsapi_python_sdk.models.get_items_response_content import (  # noqa: E402
    GetItemsResponseContent,
)

ECHO = "B00X4WHP5E"


@pytest.fixture(params=["2.1", "3.1"])
async def api(request: pytest.FixtureRequest) -> AsyncIterator[CreatorsStandin]:
    async with CreatorsStandin(version=request.param) as standin:
        standin.add_item("www.amazon.de", ECHO, "Echo Dot (DE)", "44.99", "EUR")
        yield standin


def sdk_get_items(api: CreatorsStandin, marketplace: str, ids: list[str]) -> Any:
    client = ApiClient(
        credential_id=api.credential_id,
        credential_secret=api.credential_secret,
        version=api.version,
        host=api.url,
        auth_endpoint=api.auth_url,
    )
    request = GetItemsRequestContent(
        partner_tag=api.partner_tag,
        item_ids=ids,
        resources=[GetItemsResource(resource) for resource in RESOURCES],
    )
    return DefaultApi(client).get_items(
        x_marketplace=marketplace, get_items_request_content=request
    )


async def test_the_official_sdk_reads_the_standins_answers(api: CreatorsStandin):
    answer = await asyncio.to_thread(sdk_get_items, api, "www.amazon.de", [ECHO, "B0NOTTHERE"])
    [item] = answer.items_result.items
    assert item.asin == ECHO
    assert item.item_info.title.display_value == "Echo Dot (DE)"
    [listing] = item.offers_v2.listings
    assert (listing.price.money.amount, listing.price.money.currency) == (44.99, "EUR")
    assert listing.availability.type == "IN_STOCK"
    assert item.images.primary.medium.url.startswith("https://")
    assert [error.code for error in answer.errors] == ["ItemNotFound"]
    assert api.tokens_issued == 1 and api.calls[0].status == 200


async def test_the_official_sdk_sees_throttling_as_429(api: CreatorsStandin):
    api.throttle_next = 1
    with pytest.raises(ApiException) as raised:
        await asyncio.to_thread(sdk_get_items, api, "www.amazon.de", [ECHO])
    assert raised.value.status == 429


async def test_hashcarts_request_is_what_the_sdk_would_send(
    api: CreatorsStandin, database_url: str
):
    await upgrade(database_url)
    engine = create_engine(database_url)
    prefix = "HASHCART_AMAZON_"
    values = {key.removeprefix(prefix).lower(): value for key, value in api.env().items()}
    settings = AmazonSettings(**values)  # type: ignore[arg-type]
    try:
        source = CreatorsApiSource(settings, RateCounters(engine))
        await source.fetch([ProductRef("amazon", ECHO, f"https://www.amazon.de/dp/{ECHO}")])
    finally:
        await engine.dispose()
    sent = api.calls[0].body
    parsed = GetItemsRequestContent.from_dict(sent)
    assert parsed is not None
    assert parsed.model_dump(by_alias=True, exclude_none=True, mode="json") == sent
    # Both sides send the same Authorization header for this credential version.
    sdk_api = api.calls[0].authorization.split(" ", 2)[2:]  # the part after the token
    await asyncio.to_thread(sdk_get_items, api, "www.amazon.de", [ECHO])
    assert api.calls[1].authorization.split(" ", 2)[2:] == sdk_api


def test_every_field_of_the_standins_answer_is_one_the_sdk_knows():
    standin = CreatorsStandin()
    standin.add_item("www.amazon.de", ECHO, "Echo Dot (DE)", "44.99", "EUR")
    standin.add_item("www.amazon.de", "B0SOLDOUT1", "Gone", "1.00", "EUR", "OUT_OF_STOCK")
    standin.not_accessible.add("B000000001")
    body = {
        "partnerTag": standin.partner_tag,
        "itemIds": [ECHO, "B0SOLDOUT1", "B000000001", "not-an-asin"],
        "resources": list(RESOURCES),
    }
    answer = standin._answer("www.amazon.de", body)
    parsed = GetItemsResponseContent.from_dict(answer)
    assert parsed is not None
    assert parsed.model_dump(by_alias=True, exclude_none=True, mode="json") == answer
    assert [error["code"] for error in answer["errors"]] == [
        "ItemNotAccessible",
        "InvalidParameterValue",
    ]
