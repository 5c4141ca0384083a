"""Where a Discord message names products: links in its text and embeds, else barcodes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hashcart import extract_barcodes, extract_urls

#: Anything URL-like, cut out before looking for barcodes: `?id=0885909950805` names no barcode.
_URL_LIKE = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MessageReferences:
    """What one fetched message offers as product references, kept together in the cache so a
    popular message costs one REST fetch whichever kind it holds."""

    links: tuple[str, ...] = ()
    barcodes: tuple[str, ...] = ()


def message_references(message: Mapping[str, Any]) -> MessageReferences:
    return MessageReferences(tuple(message_links(message)), tuple(message_barcodes(message)))


def message_links(message: Mapping[str, Any]) -> list[str]:
    """Every URL in the message, text first, then each embed's url, description and fields.

    Link previews put the product page in `embed.url`; bots that share deals often put it in a
    description or a field instead.
    """
    return extract_urls(_text(message, "url"))


def message_barcodes(message: Mapping[str, Any]) -> list[str]:
    """Every barcode-shaped number in the text, the embeds' titles, descriptions and fields.

    Numbers are taken as written, checksum unchecked: a mistyped one must reach the core so
    the person hears that the barcode is wrong rather than nothing at all. Numbers inside links,
    mentions (`<@…>`, snowflakes are longer) and timestamps (`<t:…>`) are not barcodes.
    """
    return extract_barcodes(_URL_LIKE.sub(" ", _text(message, "title")))


def _text(message: Mapping[str, Any], embed_key: str) -> str:
    """The message's text, then each embed's `embed_key`, description and field values."""
    texts = [message.get("content")]
    for embed in _objects(message.get("embeds")):
        texts += [embed.get(embed_key), embed.get("description")]
        texts += [embed_field.get("value") for embed_field in _objects(embed.get("fields"))]
    return "\n".join(str(text or "") for text in texts)


def _objects(value: object) -> list[Mapping[str, Any]]:
    """The objects of a JSON array: a field of the wrong type holds no text."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []
