"""The built-in policy (issue 9): rate limits, bots, deny/allow lists, cool-down, privacy, forget."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from hashcart import ConfigError, OutcomeCode
from hashcart.config import Settings, load_settings
from hashcart.retention import prune
from hashcart.testing import ADMIN_TOKEN, RunningHashcart, eventually
from tests.core.fakes import FakePlatform, command

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def admin(hc: RunningHashcart, method: str, path: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(base_url=hc.url, headers=AUTH) as session,
        session.request(method, path) as response,
    ):
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body


class FrozenClock:
    """Stands in for the `time` module where a test must stay inside one rate-limit window."""

    def __init__(self) -> None:
        self.now = (time.time() // 3600) * 3600 + 5  # just after the start of an hour

    def time(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return time.perf_counter()


async def test_200_commands_in_a_minute_exact_counts(
    hc: RunningHashcart, fake_platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("hashcart.pipeline.applier.time", FrozenClock())
    hc.hashcart.settings.rate_limit_per_minute = 5
    hc.hashcart.settings.rate_limit_per_hour = 30
    await hc.link("alice", "fake", "u1")
    outcomes = [await hc.hashcart.submit(command(event_id=f"s{i}")) for i in range(200)]
    applied = [o for o in outcomes if o.code in (OutcomeCode.ADDED, OutcomeCode.INCREASED)]
    refused = [o for o in outcomes if o.code is OutcomeCode.RATE_LIMITED]
    assert len(applied) == 5 and len(refused) == 195
    answered = [o for o in outcomes if not o.silent]
    assert len(answered) == 6
    cart = await hc.cart("fake", "u1")
    assert cart is not None and cart[0]["quantity"] == 5
    await eventually(lambda: len(fake_platform.sent) == 6)
    assert "try again in 1 minute." in fake_platform.sent[-1].content.text


async def test_account_limit_spans_its_identities(hc: RunningHashcart):
    hc.hashcart.settings.rate_limit_per_minute = 3
    await hc.link("alice", "fake", "u1")
    await hc.link("alice", "fake", "u2")
    codes = [
        (await hc.hashcart.submit(command(event_id=f"a{i}", user_id=f"u{1 + i % 2}"))).code
        for i in range(6)
    ]
    assert codes.count(OutcomeCode.RATE_LIMITED) == 3


def test_limits_per_platform(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HASHCART_RATE_LIMITS", "twitter=2/10, slack=0/0")
    settings = load_settings(Settings)
    assert settings.rate_limits_for("twitter") == (2, 10)
    assert settings.rate_limits_for("slack") == (0, 0)
    assert settings.rate_limits_for("discord") == (5, 30)
    monkeypatch.setenv("HASHCART_RATE_LIMITS", "twitter=lots")
    with pytest.raises(ConfigError, match=r"^HASHCART_RATE_LIMITS: "):
        load_settings(Settings)


async def test_per_platform_limit_applies(hc: RunningHashcart):
    hc.hashcart.settings.rate_limits = "fake=2/100"
    await hc.link("alice", "fake", "u1")
    codes = [(await hc.hashcart.submit(command(event_id=f"p{i}"))).code for i in range(3)]
    assert codes[-1] is OutcomeCode.RATE_LIMITED


async def test_deny_and_allow_lists(hc: RunningHashcart, fake_platform: FakePlatform):
    hc.hashcart.settings.rate_limit_per_minute = 1
    await hc.link("alice", "fake", "u1")
    await hc.link("bob", "fake", "u2")

    status, listing = await admin(hc, "PUT", "/api/v1/policy/deny/identity/fake:u1")
    assert status == 201 and listing["deny"]["identity"] == ["fake:u1"]
    denied = await hc.hashcart.submit(command(event_id="d1", user_id="u1"))
    assert denied.code is OutcomeCode.DENIED and denied.silent

    await admin(hc, "PUT", "/api/v1/policy/allow/identity/fake:u2")
    trusted = [await hc.hashcart.submit(command(event_id=f"t{i}", user_id="u2")) for i in range(3)]
    assert all(o.code in (OutcomeCode.ADDED, OutcomeCode.INCREASED) for o in trusted)

    await admin(hc, "PUT", "/api/v1/policy/deny/store/shop")
    refused = await hc.hashcart.submit(command(event_id="s1", user_id="u2"))
    assert refused.code is OutcomeCode.STORE_DENIED and not refused.silent
    assert (await admin(hc, "DELETE", "/api/v1/policy/deny/store/shop"))[0] == 204
    assert (await admin(hc, "DELETE", "/api/v1/policy/deny/store/shop"))[0] == 404

    await admin(hc, "PUT", "/api/v1/policy/allow/store/other")
    refused = await hc.hashcart.submit(command(event_id="s2", user_id="u2"))
    assert refused.code is OutcomeCode.STORE_DENIED
    await admin(hc, "DELETE", "/api/v1/policy/allow/store/other")
    assert (await hc.hashcart.submit(command(event_id="s3", user_id="u2"))).ok

    assert (await admin(hc, "PUT", "/api/v1/policy/maybe/identity/fake:u1"))[0] == 404
    assert (await admin(hc, "PUT", "/api/v1/policy/deny/identity/nocolon"))[0] == 422
    status, listing = await admin(hc, "GET", "/api/v1/policy")
    assert listing == {
        "deny": {"identity": ["fake:u1"], "store": []},
        "allow": {"identity": ["fake:u2"], "store": []},
    }


async def test_junk_links_trip_a_cool_down(hc: RunningHashcart, fake_platform: FakePlatform):
    hc.hashcart.settings.rate_limit_per_minute = 0
    hc.hashcart.settings.rate_limit_per_hour = 0
    await hc.link("alice", "fake", "u1")
    junk = [
        await hc.hashcart.submit(command(event_id=f"j{i}", reference=f"https://spam.test/{i}"))
        for i in range(8)
    ]
    assert [o.code for o in junk[:5]] == [OutcomeCode.NOT_A_PRODUCT] * 5
    assert junk[5].code is OutcomeCode.COOLING_DOWN and not junk[5].silent
    assert all(o.code is OutcomeCode.COOLING_DOWN and o.silent for o in junk[6:])
    real = await hc.hashcart.submit(command(event_id="real"))
    assert real.code is OutcomeCode.ADDED, "a real product still goes through"
    other = await hc.hashcart.submit(command(event_id="other", user_id="u9"))
    assert other.code is OutcomeCode.LINK_NEEDED


async def test_private_answers_carry_a_public_text_without_the_product(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    await hc.link("alice", "fake", "u1")
    await hc.hashcart.submit(command("privacy", event_id="p1", reference=None, argument="on"))
    await hc.hashcart.submit(command(event_id="a1"))
    await eventually(lambda: len(fake_platform.sent) == 2)
    reply = fake_platform.sent[1]
    assert reply.target.private and "Blue mug" in reply.content.text
    public = reply.content.extra["public_text"]
    assert "Blue mug" not in public and public


async def test_forget_asks_then_deletes_and_old_events_stay_harmless(
    hc: RunningHashcart, fake_platform: FakePlatform
):
    await hc.link("alice", "fake", "u1")
    await hc.hashcart.submit(command(event_id="old"))
    nothing = await hc.hashcart.submit(
        command("forget", event_id="f0", reference=None, argument="confirm")
    )
    assert nothing.code is OutcomeCode.NOTHING_TO_CONFIRM
    asked = await hc.hashcart.submit(command("forget", event_id="f1", reference=None))
    assert asked.code is OutcomeCode.FORGET_ASKED
    assert await hc.cart("fake", "u1") is not None
    done = await hc.hashcart.submit(
        command("forget", event_id="f2", reference=None, argument="confirm")
    )
    assert done.code is OutcomeCode.FORGOTTEN
    assert await hc.cart("fake", "u1") is None
    assert await hc.hashcart.accounts.find(name="alice") == []
    assert all(e["user_id"] is None for e in await hc.events())
    again = await hc.hashcart.submit(command(event_id="old"))
    assert again.code is OutcomeCode.DUPLICATE and again.silent
    assert await hc.cart("fake", "u1") is None


async def test_retention_scrubs_old_events_but_keeps_their_ids(hc: RunningHashcart):
    await hc.link("alice", "fake", "u1")
    await hc.hashcart.submit(command(event_id="e1"))
    counts = await prune(hc.hashcart.engine, retention_days=30, now=time.time() + 31 * 86400)
    assert counts["events"] == 1
    events = await hc.events()
    assert [(e["event_key"], e["user_id"], e["detail"]) for e in events] == [
        ("fake:e1", None, None)
    ]
    again = await hc.hashcart.submit(command(event_id="e1"))
    assert again.code is OutcomeCode.DUPLICATE
