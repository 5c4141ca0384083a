"""The admin API over real HTTP: auth, validation, the one error shape, and the OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from hashcart import OutcomeCode
from hashcart.testing import ADMIN_TOKEN, RunningHashcart
from tests.core.fakes import command

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def http(hc: RunningHashcart) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=hc.url, headers=AUTH) as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, path, **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body


def assert_error(body: Any, code: str) -> None:
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def test_admin_token_is_required(hc: RunningHashcart):
    async with aiohttp.ClientSession(base_url=hc.url) as anonymous:
        status, body = await call(anonymous, "GET", "/api/v1/events")
        assert status == 401
        assert_error(body, "unauthorized")
        status, body = await call(
            anonymous, "GET", "/api/v1/events", headers={"Authorization": "Bearer wrong"}
        )
        assert status == 401
    hc.hashcart.settings.admin_token = None
    async with aiohttp.ClientSession(base_url=hc.url, headers=AUTH) as session:
        status, body = await call(session, "GET", "/api/v1/events")
        assert status == 403
        assert_error(body, "admin_disabled")


async def test_complete_add_to_cart_through_the_api(
    hc: RunningHashcart, http: aiohttp.ClientSession
):
    status, product = await call(
        http,
        "PUT",
        "/api/v1/products/shop:NEW1",
        json={"title": "Green teapot", "price_cents": 2500, "currency": "EUR", "available": True},
    )
    assert status == 201 and product["product_id"] == "shop:NEW1"
    status, _ = await call(
        http,
        "PUT",
        "/api/v1/products/shop:NEW1",
        json={"title": "Green teapot", "price_cents": 2400, "currency": "EUR"},
    )
    assert status == 200

    status, created = await call(http, "POST", "/api/v1/accounts", json={"name": "alice"})
    assert status == 201 and created["name"] == "alice"
    account_id = created["id"]
    status, body = await call(http, "POST", "/api/v1/accounts", json={"name": "alice"})
    assert status == 409
    assert_error(body, "conflict")

    # An add before linking is kept and applied when the identity is linked.
    pending = await hc.hashcart.submit(
        command(event_id="t1", user_id="42", reference="https://shop.test/p/NEW1")
    )
    assert pending.code is OutcomeCode.LINK_NEEDED
    status, linked = await call(
        http,
        "POST",
        f"/api/v1/accounts/{account_id}/identities",
        json={"platform": "fake", "user_id": "42"},
    )
    assert status == 201 and linked["pending_applied"] == 1
    assert linked["account"]["identities"] == [
        {"platform": "fake", "user_id": "42", "user_name": None}
    ]
    status, cart = await call(http, "GET", f"/api/v1/accounts/{account_id}/cart")
    assert status == 200
    assert [
        (i["product_id"], i["title"], i["quantity"], i["price_cents"], i["currency"])
        for i in cart["items"]
    ] == [("shop:NEW1", "Green teapot", 1, 2400, "EUR")]
    assert cart["total_cents"] == 2400

    status, found = await call(http, "GET", "/api/v1/accounts?platform=fake&user_id=42")
    assert status == 200 and [a["id"] for a in found["accounts"]] == [account_id]
    status, found = await call(http, "GET", "/api/v1/accounts?name=nobody")
    assert status == 200 and found == {"accounts": []}

    status, events = await call(http, "GET", "/api/v1/events?limit=5")
    assert status == 200
    assert [e["outcome"] for e in events["events"]] == ["pending_applied", "link_needed"]
    status, only = await call(http, "GET", "/api/v1/events?outcome=link_needed")
    assert [e["event_key"] for e in only["events"]] == ["fake:t1"]

    status, _ = await call(http, "DELETE", f"/api/v1/accounts/{account_id}/identities/fake/42")
    assert status == 204
    status, body = await call(http, "DELETE", f"/api/v1/accounts/{account_id}/identities/fake/42")
    assert status == 404
    assert_error(body, "not_found")


async def test_identity_linked_elsewhere_is_a_conflict(
    hc: RunningHashcart, http: aiohttp.ClientSession
):
    await hc.link("alice", "fake", "7")
    _, bob = await call(http, "POST", "/api/v1/accounts", json={"name": "bob"})
    status, body = await call(
        http,
        "POST",
        f"/api/v1/accounts/{bob['id']}/identities",
        json={"platform": "fake", "user_id": "7"},
    )
    assert status == 409
    assert_error(body, "conflict")


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("POST", "/api/v1/accounts", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "malformed_json"),
        ("POST", "/api/v1/accounts", {"json": {"name": "x", "admin": True}}, 422, "invalid"),
        ("POST", "/api/v1/accounts", {"json": {"name": ""}}, 422, "invalid"),
        ("POST", "/api/v1/accounts", {"json": ["alice"]}, 422, "invalid"),
        ("POST", "/api/v1/accounts", {"data": b"name=alice", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415, "unsupported_media_type"),
        ("POST", "/api/v1/accounts", {"json": {"name": "x" * 400_000}}, 413, "body_too_large"),
        ("PUT", "/api/v1/products/no-colon", {"json": {"title": "t", "price_cents": 1}}, 422, "invalid"),
        ("PUT", "/api/v1/products/shop:X1", {"json": {"title": "t", "price_cents": -1}}, 422, "invalid"),
        ("PUT", "/api/v1/products/shop:X1", {"json": {"title": "t", "price_cents": 1, "currency": "dollars"}}, 422, "invalid"),
        ("GET", "/api/v1/accounts", {}, 400, "bad_query"),
        ("GET", "/api/v1/accounts/nope", {}, 404, "not_found"),
        ("GET", "/api/v1/accounts/nope/cart", {}, 404, "not_found"),
        ("DELETE", "/api/v1/accounts/nope", {}, 404, "not_found"),
        ("GET", "/api/v1/events?limit=abc", {}, 400, "bad_query"),
        ("GET", "/api/v1/events?limit=0", {}, 400, "bad_query"),
        ("GET", "/api/v1/no-such-route", {}, 404, "not_found"),
        ("PATCH", "/api/v1/accounts", {"json": {}}, 405, "method_not_allowed"),
    ],
)  # fmt: skip
async def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    hc: RunningHashcart, http: aiohttp.ClientSession,
    method: str, path: str, kwargs: dict[str, Any], status: int, code: str,
):  # fmt: skip
    got, body = await call(http, method, path, **kwargs)
    assert got == status
    assert_error(body, code)
    assert await hc.hashcart.accounts.find(name="x") == []


async def test_delete_account_removes_personal_data(
    hc: RunningHashcart, http: aiohttp.ClientSession
):
    account_id = await hc.link("alice", "fake", "u1")
    await hc.hashcart.submit(command(event_id="d1"))
    status, _ = await call(http, "DELETE", f"/api/v1/accounts/{account_id}")
    assert status == 204
    assert await hc.cart("fake", "u1") is None
    events = await hc.events()
    assert events and all(e["user_id"] is None and e["account_id"] is None for e in events)
    # The event id stays, so a redelivery is still harmless.
    again = await hc.hashcart.submit(command(event_id="d1"))
    assert again.code is OutcomeCode.DUPLICATE


async def test_openapi_document_matches_the_routes(
    hc: RunningHashcart, http: aiohttp.ClientSession
):
    status, document = await call(http, "GET", "/api/v1/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    served = {
        (route.method, route.resource.canonical)
        for route in hc.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/v1/")
        and route.method != "HEAD" and not route.resource.canonical.endswith("openapi.json")
    }  # fmt: skip
    assert operations == served
    for item in document["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                for media in response.get("content", {}).values():
                    ref = media["schema"]["$ref"].rsplit("/", 1)[-1]
                    assert ref in document["components"]["schemas"]


async def test_health_and_metrics(hc: RunningHashcart, http: aiohttp.ClientSession):
    await hc.link("alice", "fake", "u1")
    await hc.hashcart.submit(command(event_id="m1"))
    status, body = await call(http, "GET", "/healthz")
    assert (status, body) == (200, {"status": "ok"})
    async with http.get("/metrics") as response:
        assert response.status == 200
        text = await response.text()
    assert 'hashcart_commands_total{action="add",outcome="added",platform="fake"} 1.0' in text
    assert "hashcart_command_seconds_bucket" in text
    assert "hashcart_outbox_depth" in text and "hashcart_outbox_oldest_age_seconds" in text


async def test_healthz_is_503_when_the_database_is_gone(hc: RunningHashcart):
    from hashcart.store import create_engine

    real = hc.hashcart.engine
    hc.hashcart.engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        async with aiohttp.ClientSession(base_url=hc.url) as session, session.get("/healthz") as r:
            assert r.status == 503
            assert (await r.json())["status"] == "unavailable"
    finally:
        await hc.hashcart.engine.dispose()
        hc.hashcart.engine = real
