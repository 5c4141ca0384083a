"""Accounts, identities, carts and the event log as operators and web pages see them."""

from __future__ import annotations

from hashcart.accounts.erasure import erase_account, signin_name_key
from hashcart.accounts.identities import Identities, LinkTokens
from hashcart.accounts.records import Carts


class Accounts(Carts, Identities, LinkTokens):
    """One object for the account tables, built from one part per concern."""


__all__ = ["Accounts", "erase_account", "signin_name_key"]
