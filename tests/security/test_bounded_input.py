"""Strings from a platform are bounded where the command is built, and a database error that is
the data's fault is a bad command, never an outage: one event cannot stall a platform."""

from __future__ import annotations

import socket

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import hashcart_mastodon
from hashcart import (
    Action,
    CartCommand,
    Outcome,
    OutcomeCode,
    Product,
    ProductRef,
    ReplyTarget,
    Unavailable,
    hookimpl,
)
from hashcart.commands import MAX_ID, MAX_NAME, MAX_TEXT
from hashcart.store import is_outage
from hashcart.testing import eventually, running_hashcart
from hashcart_mastodon.testing import MastodonStandin
from tests.core.fakes import FakePlatform, FakePlatformPlugin, ShopPlugin, command

KINDLE = "https://www.amazon.com/dp/B08N5WRWNW"


async def test_overlong_mastodon_handle_does_not_stall_the_listener(database_url: str):
    """The attack: a handle over 100 characters made PostgreSQL refuse the row; the core took
    that for an outage and the listener retried it for ever, so no later mention was handled."""
    async with (
        MastodonStandin(heartbeat_seconds=0.5) as mastodon,
        running_hashcart(
            plugins=[hashcart_mastodon], env=mastodon.env(), database_url=database_url
        ) as hc,
    ):
        await hc.add_product("amazon:B08N5WRWNW", title="Kindle", price_cents=9999)
        platform = hc.hashcart.platforms["mastodon"]
        assert isinstance(platform, hashcart_mastodon.MastodonPlatform)
        await eventually(platform.listener.connected.is_set)
        long_handle = mastodon.add_account("m" * 150, domain="x" * 60 + ".example")
        alice = mastodon.add_account("alice")
        await hc.link("alice", "mastodon", alice.id)

        attack = mastodon.post(long_handle, "@hashcart #amazoncart", urls=[KINDLE])
        after = mastodon.post(alice, "@hashcart #amazoncart", urls=[KINDLE])

        await eventually(lambda: mastodon.replies_to(after), timeout=20)
        items = await hc.cart("mastodon", alice.id) or []
        assert [(i["product_id"], i["quantity"]) for i in items] == [("amazon:B08N5WRWNW", 1)]
        # The long handle was answered too (asked to link), its name cut to the column.
        await eventually(lambda: mastodon.replies_to(attack), timeout=20)
        events = {e["event_key"]: e for e in await hc.events()}
        assert events[f"mastodon:{attack.id}"]["outcome"] == OutcomeCode.LINK_NEEDED.value


class _PoisonStore:
    """A store that answers SKU "POISON" with values no database column takes."""

    @hookimpl
    def hashcart_lookup_product(self, ref: ProductRef) -> Product | None:
        if ref.sku != "POISON":
            return None
        return Product(ref, "a title " + "x" * 1000, 1250, "USD")  # longer than its column


async def test_value_the_database_refuses_is_parked_not_an_outage(database_url: str):
    """The attack: a row the database refuses (a number out of range, a title too long) was taken
    for an outage, so its sender retried it for ever. Now it is parked after the usual tries and
    answered, and the commands after it are applied."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite stores over-long values; PostgreSQL refuses them")
    platform = FakePlatform()
    async with running_hashcart(
        plugins=[ShopPlugin(), _PoisonStore(), FakePlatformPlugin(platform)],
        database_url=database_url,
        with_amazon=False,
    ) as hc:
        await hc.add_product("shop:SKU1", "Blue mug", 1250)
        await hc.link("alice", "fake", "u1")
        poison = command(event_id="poison", reference="https://shop.test/p/POISON")
        for _ in range(2):  # the platform redelivers what was not recorded
            with pytest.raises(Unavailable):
                await hc.hashcart.submit(poison)
        parked = await hc.hashcart.submit(poison)
        assert parked.code is OutcomeCode.FAILED
        assert (await hc.hashcart.submit(poison)).code is OutcomeCode.DUPLICATE
        fine = await hc.hashcart.submit(command(event_id="after"))
        assert fine.code is OutcomeCode.ADDED
        events = {e["event_key"]: e for e in await hc.events()}
        detail = events["fake:poison"]["detail"]
        assert events["fake:poison"]["outcome"] == "failed" and detail, detail
        assert "xxxxx" not in detail and "INSERT" not in detail  # no statement, no parameters
        await eventually(lambda: any("went wrong" in r.content.text for r in platform.sent))


def _command(**changes: object) -> CartCommand:
    fields: dict[str, object] = {
        "platform": "fake",
        "user_id": "u1",
        "action": Action.ADD,
        "event_id": "e1",
        "reply_to": ReplyTarget(platform="fake", user="u1"),
    }
    fields.update(changes)
    return CartCommand(**fields)  # type: ignore[arg-type]


def test_command_strings_are_cut_to_their_columns():
    command = _command(
        user_name="n" * 1000,
        reference="https://example.com/" + "r" * 10_000,
        argument="a" * 10_000,
        locale="de-" + "x" * 100,
    )
    assert command.user_name == "n" * MAX_NAME
    assert command.reference is not None and len(command.reference) == MAX_TEXT
    assert command.argument is not None and len(command.argument) <= MAX_TEXT
    assert command.locale is not None and len(command.locale) <= 16


def test_overlong_ids_stay_distinct_and_fit():
    """Cutting two long ids to one prefix would merge two people; they stay apart."""
    first = _command(user_id="u" * 200 + "1", event_id="e" * 500 + "1")
    second = _command(user_id="u" * 200 + "2", event_id="e" * 500 + "2")
    assert len(first.user_id) <= MAX_ID and first.user_id != second.user_id
    assert len(first.event_key) <= 200 and first.event_key != second.event_key
    again = _command(user_id="u" * 200 + "1", event_id="e" * 500 + "1")
    assert again.user_id == first.user_id and again.event_key == first.event_key
    assert len(first.reply_to.user) <= MAX_ID or first.reply_to.user == "u1"


async def test_is_outage_tells_lost_connections_from_bad_data(database_url: str):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL refuses over-long values; SQLite stores them")
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("CREATE TEMP TABLE t (name VARCHAR(5) UNIQUE)"))
            with pytest.raises(sa.exc.DBAPIError) as too_long:
                await conn.execute(sa.text("INSERT INTO t VALUES (:v)"), {"v": "x" * 50})
            assert not is_outage(too_long.value)
            await conn.rollback()
            await conn.execute(sa.text("CREATE TEMP TABLE t (name VARCHAR(5) UNIQUE)"))
            await conn.execute(sa.text("INSERT INTO t VALUES ('a')"))
            with pytest.raises(sa.exc.IntegrityError) as duplicate:
                await conn.execute(sa.text("INSERT INTO t VALUES ('a')"))
            assert not is_outage(duplicate.value)
            await conn.rollback()
            with pytest.raises(sa.exc.DBAPIError) as bad_number:
                await conn.execute(sa.text("SELECT CAST('abc' AS INTEGER)"))
            assert not is_outage(bad_number.value)
    finally:
        await engine.dispose()

    with socket.socket() as sock:  # a port nobody listens on: a lost database
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    away = create_async_engine(f"postgresql+asyncpg://hashcart@127.0.0.1:{port}/none")
    try:
        with pytest.raises(Exception) as refused:
            async with away.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        assert is_outage(refused.value)
    finally:
        await away.dispose()
    assert is_outage(TimeoutError())
    assert is_outage(OSError("connection reset"))
    assert is_outage(asyncpg.exceptions.ConnectionDoesNotExistError("closed"))
    assert is_outage(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    assert is_outage(asyncpg.exceptions.InvalidPasswordError("password authentication failed"))
    assert is_outage(asyncpg.exceptions.TooManyConnectionsError("too many clients"))
    assert is_outage(Unavailable("down"))
    assert not is_outage(asyncpg.exceptions.StringDataRightTruncationError("too long"))
    assert not is_outage(ValueError("bad"))
    assert Outcome(OutcomeCode.FAILED).code is OutcomeCode.FAILED


async def test_sql_parameters_never_reach_error_text(database_url: str):
    """The leak: a failing statement's text carried its parameters (a link token, a user id)
    into logs and into the events the admin API returns."""
    from hashcart.store import create_engine, upgrade
    from hashcart.store.db import describe_failure
    from hashcart.store.schema import link_tokens

    await upgrade(database_url)
    token = "link-token-that-must-stay-secret"
    row = {"token": token, "platform": "fake", "user_id": "u-secret-id", "created_at": 0.0}
    row |= {"expires_at": 1.0, "used_at": None, "user_name": None}
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(link_tokens), [row])
        with pytest.raises(sa.exc.IntegrityError) as duplicate:
            async with engine.begin() as conn:
                await conn.execute(sa.insert(link_tokens), [row])
    finally:
        await engine.dispose()
    for text in (str(duplicate.value), describe_failure(duplicate.value)):
        assert token not in text and "u-secret-id" not in text
    assert not is_outage(duplicate.value)
