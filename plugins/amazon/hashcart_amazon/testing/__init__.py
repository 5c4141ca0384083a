"""A local Amazon Creators API for tests and plugin authors: `CreatorsStandin`."""

from __future__ import annotations

from hashcart_amazon.testing.creators import (
    DEFAULT_CREDENTIAL_ID,
    DEFAULT_CREDENTIAL_SECRET,
    DEFAULT_PARTNER_TAG,
    KNOWN_RESOURCES,
    MAX_ITEM_IDS,
    TOKEN_SECONDS,
    CreatorsStandin,
    GetItemsCall,
    StandinItem,
)

__all__ = [
    "DEFAULT_CREDENTIAL_ID",
    "DEFAULT_CREDENTIAL_SECRET",
    "DEFAULT_PARTNER_TAG",
    "KNOWN_RESOURCES",
    "MAX_ITEM_IDS",
    "TOKEN_SECONDS",
    "CreatorsStandin",
    "GetItemsCall",
    "StandinItem",
]
