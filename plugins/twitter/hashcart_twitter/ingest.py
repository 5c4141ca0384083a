"""Turn a tweet (from a webhook delivery or the stream) into the one command hashcart records.

Links are tried in the order a reader would: the reply itself, the quoted tweet, then the tweet
replied to (looked up only when needed). The first link that names a product wins; if none does,
a barcode in the tweet's own words is next; then the first link found still makes a command so
the user hears "that is not a product link". A link taken from a tweet not everyone may read (a
protected author's) makes the answer private, since the answer names it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from hashcart import Action, CartCommand, ProductRef
from hashcart_twitter.client import ErrorKind, XClient, XError
from hashcart_twitter.normalize import (
    Rules,
    Trigger,
    trigger_from_dm,
    trigger_from_v1,
    trigger_from_v2,
    v2_referenced,
)

log = logging.getLogger(__name__)

Resolve = Callable[[str], Awaitable[ProductRef | None]]
#: A referenced tweet by id: its links, and whether everyone may read it.
Lookup = Callable[[str], Awaitable[tuple[tuple[str, ...], bool]]]


class LookupFailed(Exception):
    """X could not be asked about a referenced tweet just now; the event should come again."""


async def choose_command(trigger: Trigger, resolve: Resolve, lookup: Lookup) -> CartCommand | None:
    if trigger.verb.action is not Action.ADD:
        return trigger.command(None)
    first_link: tuple[str, bool] | None = None
    # The asker's own tweet counts as public here: a protected asker is answered privately anyway.
    for known, public, tweet_id in (
        (trigger.links, True, None),
        (trigger.quoted_links, trigger.quoted_public, trigger.quoted_id),
        (trigger.parent_links, trigger.parent_public, trigger.parent_id),
    ):
        if known is None and tweet_id is None:
            continue
        if known is None:
            known, public = await lookup(str(tweet_id))
        for url in known:
            first_link = first_link or (url, public)
            ref = await resolve(url)
            if ref is not None:
                return trigger.command(url, ref, from_private_tweet=not public)
    if trigger.barcodes:
        return trigger.command(trigger.barcodes[0])
    if first_link is None:
        return None
    url, public = first_link
    return trigger.command(url, from_private_tweet=not public)


class Ingest:
    """Shared by the webhook receiver and the stream consumer."""

    def __init__(
        self, *, rules: Callable[[], Rules], resolve: Resolve, client: Callable[[], XClient | None]
    ) -> None:
        self._rules = rules
        self._resolve = resolve
        self._client = client

    async def from_v1(self, tweet: Mapping[str, Any]) -> CartCommand | None:
        """Raises `ValueError` for an unreadable tweet, `LookupFailed` when X is unreachable."""
        trigger = trigger_from_v1(tweet, self._rules())
        return await choose_command(trigger, self._resolve, self._lookup) if trigger else None

    async def from_v2(self, envelope: Mapping[str, Any]) -> CartCommand | None:
        trigger = trigger_from_v2(envelope, self._rules())
        return await choose_command(trigger, self._resolve, self._lookup) if trigger else None

    async def from_dm(
        self, event: Mapping[str, Any], users: Mapping[str, Any], for_user_id: str | None
    ) -> CartCommand | None:
        """A DM to the bot: nothing to look up, its own links and words are all there is."""
        trigger = trigger_from_dm(event, users, self._rules(), for_user_id)
        return await choose_command(trigger, self._resolve, self._lookup) if trigger else None

    async def _lookup(self, tweet_id: str) -> tuple[tuple[str, ...], bool]:
        client = self._client()
        if client is None:
            return (), False
        try:
            found = await client.get_tweet(tweet_id)
        except XError as exc:
            if exc.kind in (ErrorKind.UNAVAILABLE, ErrorKind.RATE_LIMITED):
                raise LookupFailed(exc.reason) from exc
            log.info("tweet %s could not be looked up: %s", tweet_id, exc.reason)
            return (), False
        return v2_referenced(found) if found else ((), False)
