"""A command on its way into a transaction, and the account it acts on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hashcart.commands import CartCommand, Outcome, Product


@dataclass
class Prepared:
    """A command with what was learnt about it before its transaction (product, early verdict)."""

    command: CartCommand
    product: Product | None = None
    early: Outcome | None = None
    after_link: bool = False
    future: asyncio.Future[Outcome] | None = None
    #: The account the command acted on, once applied (live updates of its cart page).
    account_id: str | None = None
    #: Taken into a group's transaction: from then on its outcome is only moments away.
    taken: bool = False
    #: Given up by its submitter before any transaction took it: never applied.
    withdrawn: bool = False
    #: For a `confirm`: the cart's products looked up again, so a checkout is confirmed at the
    #: prices and stock of now (None: not looked up).
    fresh: dict[str, Product | None] | None = None


@dataclass
class Account:
    id: str
    dm_only: bool
    locale: str | None
    #: Chosen by the person (`/cart language`): wins over the locale the platform reports.
    language: str | None = None

    def speaks(self, platform_locale: str | None) -> str | None:
        """The locale the account's answers are worded in."""
        return self.language or self.locale or platform_locale


def locale_of(account: Account | None, command: CartCommand) -> str | None:
    return account.speaks(command.locale) if account is not None else command.locale
