"""X's two ways in, with a node SIGKILLed between recording commands and acknowledging them.

Each node is a real `hashcart serve` process on one PostgreSQL. The node that is killed runs
with `HASHCART_FAULTS`, so it holds still right after `submit` returned - the command is
recorded, but X has not been told (webhook: no 200 yet) or the stream reader has not finished
the tweet - and reports reaching that point (`HASHCART_FAULTS_REPORT`); the test kills it there.
Then every command must be applied exactly once and answered exactly once: the webhook delivery
that got no 200 is delivered again to the node that is left (as a balancer in front of X's
retries would), and the stream's next holder asks X for a backfill, which sends the tweets again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from hashcart.testing import eventually
from hashcart.testing.cluster import Cluster, Node, expected_carts
from hashcart_twitter.testing import XStandin

STREAM = "/2/tweets/search/stream"


@dataclass
class CrashCluster(Cluster):
    """A cluster whose nodes share `twitter` settings; `faults` go to the next node started."""

    twitter: dict[str, str] = field(default_factory=dict)
    faults: dict[str, str] = field(default_factory=dict)

    def env(self, port: int) -> dict[str, str]:
        values = {**super().env(port), **self.standin.env(**self.twitter), **self.faults}
        if not self.faults:
            values.pop("HASHCART_FAULTS", None)
            values.pop("HASHCART_FAULTS_REPORT", None)
        return values

    async def start_faulty_node(self, point: str, report: Path) -> Node:
        self.faults = {"HASHCART_FAULTS": f"{point}=60", "HASHCART_FAULTS_REPORT": str(report)}
        try:
            return await self.start_node()
        finally:
            self.faults = {}


@contextlib.asynccontextmanager
async def crash_cluster(
    database_url: str, standin: XStandin, users: int, **twitter: str
) -> AsyncIterator[CrashCluster]:
    running = CrashCluster(database_url, standin, twitter=twitter)
    await running.seed(users)
    try:
        yield running
    finally:
        await running.stop()


def reached(report: Path, point: str, node: Node) -> int:
    """How many times `node` reported reaching `point`."""
    if not report.exists():
        return 0
    lines = report.read_text().splitlines()
    return lines.count(f"{point} {node.process.pid}")


async def answered_once(running: Cluster, sent: list[tuple[dict[str, Any], str]]) -> None:
    """Every tweet gets its answer; a second one, if it were coming, has time to show up."""
    await eventually(lambda: all(running.standin.replies_to(t) for t, _ in sent), timeout=20)
    await asyncio.sleep(1.0)
    assert [len(running.standin.replies_to(t)) for t, _ in sent] == [1] * len(sent)


async def test_webhook_node_killed_after_recording_before_the_200(
    shared_postgres: str, tmp_path: Path
) -> None:
    point = "twitter.webhook.recorded"
    report = tmp_path / "faults"
    async with (
        XStandin() as standin,
        crash_cluster(shared_postgres, standin, users=3) as running,
    ):
        doomed = await running.start_faulty_node(point, report)
        await running.start_node()
        sent = running.replies(6, random.Random(17))
        held = sent[:3]

        async def deliver_to_doomed(tweet: dict[str, Any]) -> int | None:
            try:
                url = f"{doomed.url}/twitter/webhook"
                return (await standin.deliver(url, [tweet])).status
            except (aiohttp.ClientError, OSError):
                return None  # the node died before answering

        first_tries = [asyncio.create_task(deliver_to_doomed(t)) for t, _ in held]
        await eventually(lambda: reached(report, point, doomed) == len(held), timeout=10)
        doomed.kill()
        assert await asyncio.gather(*first_tries) == [None] * len(held), "a 200 got out"

        # Nothing was acknowledged: the balancer delivers everything to the node left.
        for index, (tweet, _) in enumerate(sent):
            await running.deliver(tweet, index)
        await answered_once(running, sent)
        assert await running.carts() == expected_carts(sent)


async def test_stream_node_killed_after_recording_before_finishing(
    shared_postgres: str, tmp_path: Path
) -> None:
    point = "twitter.stream.recorded"
    report = tmp_path / "faults"
    async with (
        XStandin(keepalive_seconds=0.2) as standin,
        crash_cluster(
            shared_postgres,
            standin,
            users=3,
            mode="stream",
            stream_backoff_scale="0.01",
            stream_stall_seconds="1",
            stream_lease_seconds="1",
        ) as running,
    ):
        doomed = await running.start_faulty_node(point, report)
        await standin.wait_for_stream(within=10)  # the first node holds the stream
        await running.start_node()
        sent = running.replies(6, random.Random(23))
        read, missed = sent[:3], sent[3:]

        for tweet, _ in read:
            assert await standin.stream_tweet(tweet) == 1
        await eventually(lambda: reached(report, point, doomed) == len(read), timeout=10)
        doomed.kill()
        # While the stream has no reader, X sends these to no one.
        killed_at = time.monotonic()
        for tweet, _ in missed:
            await standin.stream_tweet(tweet)

        await eventually(lambda: standin.stream_connections == 2, timeout=10)
        takeover = [c for c in standin.calls_to("GET", STREAM) if c.path == STREAM][-1]
        assert takeover.query.get("backfill_minutes") == "5"
        assert time.monotonic() - killed_at < 10
        await answered_once(running, sent)
        assert await running.carts() == expected_carts(sent)
