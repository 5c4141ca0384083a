"""The Mastodon platform as hashcart runs it: the listener, and posting each answer."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import ClassVar

from hashcart import Action, Host, OutgoingReply, RetryLater, SendRefused
from hashcart_mastodon.client import ErrorKind, MastodonClient, MastodonError
from hashcart_mastodon.listener import Listener
from hashcart_mastodon.settings import MastodonSettings
from hashcart_mastodon.statuses import COMMANDS, PLATFORM, reply_text, reply_visibility


class MastodonPlatform:
    name = PLATFORM
    commands: ClassVar[Mapping[Action, str | None]] = COMMANDS

    def __init__(self, hashcart: Host, settings: MastodonSettings) -> None:
        self.hashcart = hashcart
        self.settings = settings
        self.client = MastodonClient(settings, hashcart.http_timeout)
        self.listener = Listener(self.client, hashcart, settings)

    async def start(self) -> None:
        self.client.open()
        self.listener.start()

    async def stop(self) -> None:
        await self.listener.stop()
        await self.client.close()

    async def send_reply(self, reply: OutgoingReply) -> None:
        """A reply to the asking status; a direct one when the conversation is not public."""
        try:
            await self._post(reply, in_reply_to=reply.target.channel)
        except _ParentGone:
            # The asking status was deleted; the mention alone still reaches the person.
            await self._post(reply, in_reply_to=None)

    async def _post(self, reply: OutgoingReply, *, in_reply_to: str | None) -> None:
        target = reply.target
        key = hashlib.sha256(f"{reply.event_key}/{reply.reply_id}".encode()).hexdigest()[:32]
        try:
            await self.client.post_status(
                reply_text(target.extra.get("acct"), reply.content.text),
                visibility=reply_visibility(target),
                in_reply_to_id=in_reply_to,
                language=target.extra.get("language"),
                idempotency_key=f"hashcart-{key}",
            )
        except MastodonError as exc:
            self.hashcart.count_platform_error(PLATFORM, f"send_{exc.kind.value}")
            if exc.kind is ErrorKind.NOT_FOUND and in_reply_to:
                raise _ParentGone(exc.reason) from exc
            if exc.transient:
                raise RetryLater(exc.reason, exc.retry_after) from exc
            raise SendRefused(exc.reason) from exc


class _ParentGone(Exception):
    """Mastodon does not know the status the answer replies to (any more)."""
