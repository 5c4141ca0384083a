"""The X platform as hashcart runs it: the API client, the optional stream, and sending answers.

A private answer goes by DM. X refuses a DM (403) to someone who does not take messages from the
bot; they then get a public reply with the core's product-free wording instead, so that every
command still gets its one answer and nothing private is said in public.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import ClassVar

from hashcart import Action, Host, OutgoingReply, RetryLater, SendRefused
from hashcart_twitter import replies
from hashcart_twitter.client import ErrorKind, XClient, XError
from hashcart_twitter.ingest import Ingest
from hashcart_twitter.normalize import PLATFORM, Rules
from hashcart_twitter.settings import Mode, TwitterSettings
from hashcart_twitter.stream import StreamConsumer
from hashcart_twitter.verbs import COMMANDS
from hashcart_twitter.webhook import WebhookReceiver

#: The lease that keeps the filtered stream on one node.
STREAM_LEASE = "twitter-filtered-stream"

log = logging.getLogger(__name__)

#: How many replies' retry notes (duplicate refusals, uncertain sends) are kept in memory.
_MEMORY = 10_000


class TwitterPlatform:
    """One per `Hashcart`; the webhook receiver and the reply sender share its client."""

    name = PLATFORM
    commands: ClassVar[Mapping[Action, str | None]] = COMMANDS

    def __init__(self, hashcart: Host, settings: TwitterSettings) -> None:
        self.hashcart = hashcart
        self.settings = settings
        self.client = XClient(settings, hashcart.http_timeout)
        self.ingest = Ingest(
            rules=self.rules,
            resolve=hashcart.resolve_reference,
            client=lambda: self.client if settings.enabled else None,
        )
        self.receiver = WebhookReceiver(
            secret=lambda: settings.webhook_secret,
            ingest=self.ingest,
            submit=hashcart.submit,
            count_error=self.count_error,
        )
        self.stream: StreamConsumer | None = None
        self._lease_stop = asyncio.Event()
        self._lease_task: asyncio.Task[None] | None = None
        # reply_id -> how many times X refused its text as a duplicate (the variation to use next)
        self._duplicates: dict[int, int] = {}
        # reply_id -> the variation of an attempt that may have been posted despite failing
        self._maybe_posted: dict[int, int] = {}

    def rules(self) -> Rules:
        settings = self.settings
        return Rules(self.hashcart.settings.hashtag, settings.ignores, settings.bot_user_id)

    def count_error(self, kind: str) -> None:
        self.hashcart.count_platform_error(PLATFORM, kind)

    async def start(self) -> None:
        self.client.open()
        if self.settings.mode is Mode.STREAM:
            self.stream = StreamConsumer(self.client, self.ingest, self.hashcart, self.settings)
            # X allows one stream connection per app: one node holds it, another takes over
            # within a lease period when that node dies.
            self._lease_stop = asyncio.Event()
            self._lease_task = asyncio.create_task(
                self.hashcart.leases.run_exclusively(
                    STREAM_LEASE,
                    self.stream.run,
                    ttl=self.settings.stream_lease_seconds,
                    stop=self._lease_stop,
                ),
                name="hashcart-twitter-stream-lease",
            )

    async def stop(self) -> None:
        if self._lease_task is not None:
            self._lease_stop.set()
            await asyncio.gather(self._lease_task, return_exceptions=True)
            self._lease_task = None
        if self.stream is not None:
            await self.stream.stop()
            self.stream = None
        await self.client.close()

    async def send_reply(self, reply: OutgoingReply) -> None:
        """Post the answer: a DM when it must be private, else a reply to the user's tweet."""
        target = reply.target
        variation = max(self._duplicates.get(reply.reply_id, 0), _reworded_as(reply.last_error))
        try:
            if target.private or not target.channel:
                await self._send_private(reply, variation)
            else:
                await self._post_public(reply, reply.content.text, variation)
        except XError as exc:
            error = self._send_error(reply, variation, exc)
            if error is not None:
                raise error from exc
        self._forget(reply.reply_id)

    async def _send_private(self, reply: OutgoingReply, variation: int) -> None:
        target = reply.target
        text = replies.dm_text(reply.content.text, seed=reply.reply_id, variation=variation)
        try:
            await self.client.send_dm(target.user, text)
        except XError as exc:
            if exc.kind is not ErrorKind.REFUSED or exc.status != 403:
                raise  # 403: the person takes no messages from the bot (or blocks it)
            self.count_error("send_dm_refused")
            if not target.channel:
                raise  # a command sent by DM: there is no thread to answer in
            log.info("X refused a DM to %s (%s); answering in public instead", target.user, exc)
            await self._post_public(reply, self._public_fallback(reply), variation)

    async def _post_public(self, reply: OutgoingReply, text: str, variation: int) -> None:
        text = replies.public_text(
            text, reply.target.extra.get("screen_name"), seed=reply.reply_id, variation=variation
        )
        await self.client.post_tweet(text, in_reply_to=reply.target.channel)

    def _public_fallback(self, reply: OutgoingReply) -> str:
        """What a private answer says in public: the core's product-free wording, unless it
        would repeat something of the private answer (a link, a product's title)."""
        wording = reply.content.extra.get("public_text")
        if isinstance(wording, str) and wording.strip() and not _reveals(wording, reply):
            return wording
        return str(self.hashcart.translate(reply.locale, "reply.private_public"))

    def _send_error(
        self, reply: OutgoingReply, variation: int, exc: XError
    ) -> RetryLater | SendRefused | None:
        """The error for the reply sender, or None when the post turns out to exist already."""
        self.count_error(f"send_{exc.kind.value}")
        if exc.kind is ErrorKind.DUPLICATE:
            if self._maybe_posted.get(reply.reply_id) == variation:
                # An earlier attempt with this very text timed out but got through after all.
                return None
            if reply.attempt > 1 and variation == 0 and reply.reply_id not in self._duplicates:
                # A retry whose first wording is already on X, and no refusal of it recorded by
                # any node: the earlier attempt (this node's or a dead one's) went through.
                return None
            _remember(self._duplicates, reply.reply_id, variation + 1)
            # The next wording is recorded with the error, for whichever node tries next.
            return RetryLater(f"{exc.reason}; {REWORDED} {variation + 1}", 0.0)
        if exc.kind is ErrorKind.RATE_LIMITED:
            return RetryLater(exc.reason, exc.retry_after or 60.0)
        if exc.kind is ErrorKind.UNAVAILABLE:
            if exc.sent:
                _remember(self._maybe_posted, reply.reply_id, variation)
            return RetryLater(exc.reason, exc.retry_after)
        self._forget(reply.reply_id)
        return SendRefused(exc.reason)

    def _forget(self, reply_id: int) -> None:
        self._duplicates.pop(reply_id, None)
        self._maybe_posted.pop(reply_id, None)


#: How a duplicate refusal's recorded error names the wording to try next.
REWORDED = "re-worded as variation"
_REWORDED_AT_END = re.compile(rf"; {REWORDED} (\d+)$")


def _reworded_as(last_error: str | None) -> int:
    """The variation an earlier attempt's duplicate refusal asked for, else 0 ("waiting for an
    earlier reply: <its error>" speaks of the other reply's wording, not this one's)."""
    if not last_error or last_error.startswith("waiting for"):
        return 0
    found = _REWORDED_AT_END.search(last_error)
    return int(found.group(1)) if found else 0


_URL = re.compile(r"https?://\S+")


def _reveals(public: str, reply: OutgoingReply) -> bool:
    """Whether `public` carries a link of the private answer (a link token, the product's
    page) or the product's title."""
    private_bits = set(_URL.findall(reply.content.text))
    title = reply.outcome.params.get("title")
    if isinstance(title, str) and title.strip():
        private_bits.add(title.strip())
    return any(bit in public for bit in private_bits)


def _remember(memory: dict[int, int], key: int, value: int) -> None:
    memory.pop(key, None)
    memory[key] = value
    while len(memory) > _MEMORY:
        memory.pop(next(iter(memory)))
