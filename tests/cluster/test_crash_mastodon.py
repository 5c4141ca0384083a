"""A node killed between receiving a Mastodon mention and recording it (issue 14, item 1): the
streaming API does not replay, so the next node reads the missed mention over the notifications
API from the stored cursor. Applied exactly once, answered once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from hashcart.accounts import Accounts
from hashcart.store import create_engine
from hashcart.store.schema import events
from hashcart.testing import eventually
from hashcart.testing.cluster import PRODUCTS, cluster
from hashcart_mastodon.testing import MastodonStandin


async def _recorded(database_url: str) -> list[tuple[str, str]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(events.c.event_key, events.c.outcome).where(
                    events.c.platform == "mastodon"
                )
            )
            return [(row.event_key, row.outcome) for row in rows]
    finally:
        await engine.dispose()


async def test_node_killed_before_recording_a_mention_the_next_node_catches_up_once(
    shared_postgres: str, tmp_path: Path
) -> None:
    report = tmp_path / "faults.txt"
    async with (
        MastodonStandin(heartbeat_seconds=0.5) as mastodon,
        cluster(
            shared_postgres,
            nodes=0,
            users=0,
            load_plugins="amazon,mastodon",
            extra_env=mastodon.env(),
        ) as running,
    ):
        alice = mastodon.add_account("alice")
        engine = create_engine(shared_postgres)
        accounts = Accounts(engine)
        account = await accounts.create("alice")
        await accounts.link(account["id"], "mastodon", alice.id)
        await engine.dispose()

        doomed = await running.start_node(
            {"HASHCART_FAULTS": "mastodon.received=60", "HASHCART_FAULTS_REPORT": str(report)}
        )
        await eventually(lambda: mastodon.open_streams == 1, timeout=20)
        link = f"https://www.amazon.com/dp/{PRODUCTS[0]}"
        product = mastodon.post(mastodon.add_account("bob"), "Look", urls=[link])
        ask = mastodon.post(alice, "@hashcart #amazoncart", in_reply_to=product)

        await eventually(lambda: report.exists() and "mastodon.received" in report.read_text(), 20)
        doomed.kill()
        assert await _recorded(shared_postgres) == []

        await running.start_node()
        [answer] = await eventually(lambda: mastodon.replies_to(ask), timeout=30)
        assert "Product" in answer.text
        await asyncio.sleep(2)  # room for a second answer, if one were coming
        assert len(mastodon.replies_to(ask)) == 1
        assert await _recorded(shared_postgres) == [(f"mastodon:{ask.id}", "added")]
        engine = create_engine(shared_postgres)
        try:
            cart = await Accounts(engine).cart_of_identity("mastodon", alice.id)
        finally:
            await engine.dispose()
        assert cart is not None
        assert [(i["product_id"], i["quantity"]) for i in cart["items"]] == [
            (f"amazon:{PRODUCTS[0]}", 1)
        ]
