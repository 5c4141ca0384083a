"""A local Mastodon for tests and plugin authors: `MastodonStandin` and its objects."""

from __future__ import annotations

from hashcart import hookimpl
from hashcart_mastodon.testing.models import Account as Account
from hashcart_mastodon.testing.models import Status as Status
from hashcart_mastodon.testing.standin import MastodonStandin as MastodonStandin


@hookimpl
def hashcart_standins() -> MastodonStandin:
    return MastodonStandin()
