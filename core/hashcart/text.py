"""Helpers for plugins that read links and hashtags out of message text."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

# Slack writes links as <url|label> or <url>; the negated class stops at those brackets too.
_URL = re.compile(r"https?://[^\s<>|\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""
MAX_URL_LENGTH = 2048


def extract_urls(text: str) -> list[str]:
    """Every http(s) URL in `text`, in order, without trailing punctuation, duplicates removed."""
    urls = (match.group(0).rstrip(_TRAILING) for match in _URL.finditer(text or ""))
    return list(dict.fromkeys(url for url in urls if url))


def has_hashtag(text: str, tag: str) -> bool:
    """Whether `#tag` stands in `text` as a whole hashtag, compared case-insensitively."""
    pattern = rf"(?<![\w#])#{re.escape(tag)}(?!\w)"
    return re.search(pattern, unicodedata.normalize("NFKC", text or ""), re.IGNORECASE) is not None


def is_safe_url(url: str) -> bool:
    """Whether a URL is a plain public http(s) address worth looking at.

    Refuses other schemes (javascript:, data:), user-info tricks (`https://amazon.com@evil`),
    non-ASCII host names (IDN look-alikes), bare IP addresses, ports and over-long URLs.
    """
    if not url or len(url) > MAX_URL_LENGTH or any(ch.isspace() for ch in url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname
    if parts.scheme.lower() not in ("http", "https") or not host or "@" in parts.netloc:
        return False
    if port is not None or not host.isascii() or host.startswith("xn--") or ".xn--" in host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False
