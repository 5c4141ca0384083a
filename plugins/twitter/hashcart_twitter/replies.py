"""Shaping answer text into something X will post: the mention, the length limit, re-wording.

X refuses a post whose text repeats a recent one (403 duplicate content). Answers start with the
user's @handle, so two people never collide; the same person hearing the same sentence twice
gets a short variation appended, derived from the reply so that every re-try differs.
"""

from __future__ import annotations

import re

#: X's limit, counted in weighted characters (a URL counts as 23, most CJK characters as 2).
MAX_WEIGHT = 280
URL_WEIGHT = 23
_URL = re.compile(r"https?://\S+")
_VARIATIONS = ("✓", "✔", "👍", "🛒", "✅", "👌", "🙂", "★")


def weight(text: str) -> int:
    return URL_WEIGHT * len(_URL.findall(text)) + _chars_weight(_URL.sub("", text))


def _chars_weight(text: str) -> int:
    # X's twitter-text config: these ranges weigh 1, everything else 2.
    return sum(
        1
        if (
            ord(ch) <= 0x10FF
            or 0x2000 <= ord(ch) <= 0x200D
            or 0x2010 <= ord(ch) <= 0x201F
            or 0x2032 <= ord(ch) <= 0x2037
        )
        else 2
        for ch in text
    )


def fit(text: str, limit: int = MAX_WEIGHT) -> str:
    """Shorten the words (never a URL) until the text fits in one post."""
    if weight(text) <= limit:
        return text
    pieces = re.split(r"(https?://\S+)", text)
    while weight("".join(pieces)) > limit:
        words = [i for i, piece in enumerate(pieces) if not _URL.fullmatch(piece) and piece]
        if not words:
            break
        longest = max(words, key=lambda i: len(pieces[i]))
        piece = pieces[longest].removesuffix("…")
        if len(piece) <= 1:
            pieces[longest] = ""
            continue
        excess = weight("".join(pieces)) - limit
        keep = max(1, len(piece) - max(excess, 1) - 1)
        pieces[longest] = piece[:keep].rstrip() + "…"
    return "".join(pieces)


def public_text(text: str, screen_name: str | None, *, seed: int = 0, variation: int = 0) -> str:
    """A reply tweet: `@handle ` first (X threads it and two users' answers differ), fitted."""
    prefix = f"@{screen_name} " if screen_name else ""
    suffix = f" {variant(seed, variation)}" if variation else ""
    return prefix + fit(text, MAX_WEIGHT - weight(prefix) - weight(suffix)) + suffix


def dm_text(text: str, *, seed: int = 0, variation: int = 0) -> str:
    suffix = f" {variant(seed, variation)}" if variation else ""
    return fit(text, 10_000 - weight(suffix)) + suffix


def variant(seed: int, n: int) -> str:
    """The n-th (1-based) short marker for a reply, distinct for every n; the seed (the reply id)
    spreads replies over the markers, so a third answer rarely collides with the second's."""
    symbol = _VARIATIONS[(seed + n - 1) % len(_VARIATIONS)]
    round_ = (n - 1) // len(_VARIATIONS)
    return symbol if round_ == 0 else f"{symbol}{round_ + 1}"
