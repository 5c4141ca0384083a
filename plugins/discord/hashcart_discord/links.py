"""Where a Discord message keeps its links: the text, and the embeds Discord or a bot attached."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hashcart import extract_urls


def message_links(message: Mapping[str, Any]) -> list[str]:
    """Every URL in the message, text first, then each embed's url, description and fields.

    Link previews put the product page in `embed.url`; bots that share deals often put it in a
    description or a field instead.
    """
    texts = [str(message.get("content") or "")]
    for embed in message.get("embeds") or ():
        if not isinstance(embed, Mapping):
            continue
        texts.append(str(embed.get("url") or ""))
        texts.append(str(embed.get("description") or ""))
        for embed_field in embed.get("fields") or ():
            if isinstance(embed_field, Mapping):
                texts.append(str(embed_field.get("value") or ""))
    return extract_urls("\n".join(texts))
