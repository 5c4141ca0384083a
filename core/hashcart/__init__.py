"""hashcart: put products into one shopping cart from the chat platforms people already use.

This module is the public API. Plugins import from here (and their tests from `hashcart.testing`)
and nothing else: everything under `hashcart.store`, `hashcart.web` and friends may change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from hashcart.answers import HttpAnswer, Verdict, classify_answer, retry_after
from hashcart.barcodes import Barcode, InvalidBarcode, extract_barcodes, parse_barcode
from hashcart.commands import (
    PRODUCT_ACTIONS,
    Action,
    CartCommand,
    CartLine,
    Order,
    Outcome,
    OutcomeCode,
    Product,
    ProductRef,
    ReplyTarget,
    StateChange,
)
from hashcart.config import HashcartSettingsBase as PluginSettings
from hashcart.config import require_complete
from hashcart.errors import ConfigError, Conflict, NotFound, Unavailable
from hashcart.faults import fault_point
from hashcart.host import Host, KeyValue
from hashcart.platform import (
    OutgoingReply,
    Platform,
    ReplyContent,
    RetryLater,
    SendError,
    SendRefused,
    for_platform,
)
from hashcart.policy_api import PolicyContext, RateDecision
from hashcart.retry import backoff_delay, doubling, reconnecting, retrying
from hashcart.signin import ProvenIdentity, SignInProvider
from hashcart.sources import ProductSource, SourceUnavailable
from hashcart.tasks import TrackedTasks
from hashcart.text import extract_urls, has_hashtag, is_safe_url
from hashcart.version import __version__

if TYPE_CHECKING:
    from hashcart.app import Hashcart

hookimpl = pluggy.HookimplMarker("hashcart")

__all__ = [
    "PRODUCT_ACTIONS",
    "Action",
    "Barcode",
    "CartCommand",
    "CartLine",
    "ConfigError",
    "Conflict",
    "Hashcart",
    "Host",
    "HttpAnswer",
    "InvalidBarcode",
    "KeyValue",
    "NotFound",
    "Order",
    "Outcome",
    "OutcomeCode",
    "OutgoingReply",
    "Platform",
    "PluginSettings",
    "PolicyContext",
    "Product",
    "ProductRef",
    "ProductSource",
    "ProvenIdentity",
    "RateDecision",
    "ReplyContent",
    "ReplyTarget",
    "RetryLater",
    "SendError",
    "SendRefused",
    "SignInProvider",
    "SourceUnavailable",
    "StateChange",
    "TrackedTasks",
    "Unavailable",
    "Verdict",
    "__version__",
    "backoff_delay",
    "classify_answer",
    "doubling",
    "extract_barcodes",
    "extract_urls",
    "fault_point",
    "for_platform",
    "has_hashtag",
    "hookimpl",
    "is_safe_url",
    "parse_barcode",
    "reconnecting",
    "require_complete",
    "retry_after",
    "retrying",
]


def __getattr__(name: str) -> object:
    # The application object pulls in SQLAlchemy and aiohttp; load it only when asked for.
    if name == "Hashcart":
        from hashcart.app import Hashcart

        return Hashcart
    raise AttributeError(name)
