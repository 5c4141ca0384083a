"""A local Mastodon for tests and plugin authors: `MastodonStandin` and its objects."""

from __future__ import annotations

from hashcart import hookimpl
from hashcart_mastodon.testing.models import Account, ApiCall, Notification, Status, status_html
from hashcart_mastodon.testing.standin import (
    BOT_USERNAME,
    CHARACTER_LIMIT,
    DEFAULT_DOMAIN,
    DEFAULT_TOKEN,
    VISIBILITIES,
    MastodonStandin,
)


@hookimpl
def hashcart_standins() -> MastodonStandin:
    return MastodonStandin()


__all__ = [
    "BOT_USERNAME",
    "CHARACTER_LIMIT",
    "DEFAULT_DOMAIN",
    "DEFAULT_TOKEN",
    "VISIBILITIES",
    "Account",
    "ApiCall",
    "MastodonStandin",
    "Notification",
    "Status",
    "status_html",
]
