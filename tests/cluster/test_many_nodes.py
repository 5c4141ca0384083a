"""Several `hashcart serve` nodes on one PostgreSQL (issue 7): nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import os
import random
import signal

import sqlalchemy as sa

from hashcart.store import create_engine
from hashcart.testing import eventually
from hashcart.testing.cluster import cluster, expected_carts


async def test_three_nodes_duplicates_and_one_node_killed(shared_postgres: str):
    rng = random.Random(7)
    async with cluster(shared_postgres, nodes=3, users=12) as running:
        sent = running.replies(240, rng)
        deliveries = [tweet for tweet, _ in sent]
        deliveries += [rng.choice(deliveries) for _ in range(len(deliveries) // 4)]  # 20% copies
        rng.shuffle(deliveries)
        semaphore = asyncio.Semaphore(12)

        async def deliver(index: int) -> None:
            async with semaphore:
                await running.deliver(deliveries[index], index)

        tasks = [asyncio.create_task(deliver(i)) for i in range(len(deliveries))]
        await asyncio.gather(*tasks[: len(tasks) // 2])
        running.nodes[1].kill()  # SIGKILL half-way, with its queue and leases as they are
        await asyncio.gather(*tasks[len(tasks) // 2 :])

        def all_answered() -> bool:
            return all(running.standin.replies_to(tweet) for tweet, _ in sent)

        await eventually(all_answered, timeout=40, interval=0.2)
        await asyncio.sleep(1.0)  # room for a second reply, if one were coming
        assert [len(running.standin.replies_to(tweet)) for tweet, _ in sent] == [1] * len(sent)
        assert await running.carts() == expected_carts(sent)


async def test_database_connections_cut_mid_load(shared_postgres: str):
    """Every connection is cut while deliveries flow: each is applied once or refused with 503
    and delivered again, never half-applied."""
    rng = random.Random(11)
    async with cluster(shared_postgres, nodes=2, users=8) as running:
        sent = running.replies(120, rng)
        engine = create_engine(shared_postgres.rsplit("/", 1)[0] + "/postgres")
        name = shared_postgres.rsplit("/", 1)[1]

        async def cut_connections() -> None:
            for _ in range(6):
                await asyncio.sleep(0.3)
                async with engine.connect() as conn:
                    await conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": name},
                    )

        semaphore = asyncio.Semaphore(8)

        async def deliver(index: int) -> None:
            async with semaphore:
                await running.deliver(sent[index][0], index)

        await asyncio.gather(cut_connections(), *(deliver(i) for i in range(len(sent))))
        await engine.dispose()
        await eventually(lambda: all(running.standin.replies_to(t) for t, _ in sent), timeout=40)
        assert [len(running.standin.replies_to(t)) for t, _ in sent] == [1] * len(sent)
        assert await running.carts() == expected_carts(sent)


async def test_x_down_for_a_while_then_every_reply_goes_out_in_order(shared_postgres: str):
    rng = random.Random(3)
    async with cluster(shared_postgres, nodes=2, users=3) as running:
        running.standin.fail_for(4.0, status=503, path="/2/tweets")
        sent = running.replies(30, rng, with_link=True)
        for index, (tweet, _) in enumerate(sent):
            await running.deliver(tweet, index)
        assert running.standin.posted == []
        await eventually(lambda: all(running.standin.replies_to(t) for t, _ in sent), timeout=60)
        for user in running.users:
            asked = [t["id_str"] for t, _ in sent if t["user"]["id_str"] == user["id_str"]]
            answered = [p.in_reply_to for p in running.standin.posted if p.in_reply_to in asked]
            assert answered == asked, "replies to one user went out of order"


async def test_sigterm_finishes_what_was_accepted_and_exits_0(shared_postgres: str):
    rng = random.Random(5)
    async with cluster(shared_postgres, nodes=1, users=4) as running:
        node = running.nodes[0]
        sent = running.replies(60, rng)
        accepted: list[int] = []

        async def deliver(index: int) -> None:
            tweet = sent[index][0]
            try:
                result = await running.standin.deliver(f"{node.url}/twitter/webhook", [tweet])
            except Exception:
                return
            if result.status == 200:
                accepted.append(index)

        first = [asyncio.create_task(deliver(i)) for i in range(len(sent))]
        await asyncio.sleep(0.3)
        node.process.send_signal(signal.SIGTERM)
        await asyncio.gather(*first)
        assert await asyncio.to_thread(node.process.wait, 30) == 0
        assert accepted, "nothing was accepted before the stop"
        engine = create_engine(shared_postgres)
        async with engine.connect() as conn:
            recorded = set((await conn.execute(sa.text("SELECT event_key FROM events"))).scalars())
        await engine.dispose()
        missing = [i for i in accepted if f"twitter:{sent[i][0]['id_str']}" not in recorded]
        assert missing == [], "a delivery answered 200 was not recorded"
        assert os.environ.get("HASHCART_DATABASE_URL") != shared_postgres
