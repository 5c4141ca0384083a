"""Hypothesis strategies for hostile payloads: any JSON, and JSON shaped like a platform's.

Arbitrary JSON rarely reaches past a normaliser's first `if`; the shaped strategies build objects
from the keys a platform really sends, with any value under any key, at any depth, so the fuzzer
reaches the code that trusts a key to hold an object, a list or a string.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hypothesis import strategies as st

#: Strings a parser treats specially: the trigger, links, ids, barcodes, markup, odd Unicode.
INTERESTING_TEXT = (
    "",
    " ",
    "#amazoncart",
    "#AmazonCart https://www.amazon.com/dp/B00X4WHP5E",
    "#amazoncart forget confirm",
    "#amazoncart privacy on",
    "#checkout",
    "#confirm",
    "https://www.amazon.com/dp/B00X4WHP5E",
    "https://t.co/abc",
    "http://",
    "https://[::1",
    "https://exa mple.com/%zz",
    "<https://www.amazon.com/dp/B08N5WRWNW|amazon.com>",
    "<@U123>",
    "add <https://www.amazon.com/dp/B00X4WHP5E> 2",
    "add 9780306406157 999",
    "remove",
    "9780306406157",
    "0885909950805",
    "123456789",
    "-1",
    "true",
    "false",
    "message",
    "message_create",
    "mention",
    "reaction_added",
    "reaction_removed",
    "event_callback",
    "url_verification",
    "amazoncart",
    "shopping_trolley",
    '<p><a href="https://www.amazon.com/dp/B00X4WHP5E">x</a> #amazoncart</p>',
    '<a class="mention" href="javascript:alert(1)">',
    "\x00",
    "\ud7ff\ufeff\u202e",
    "a" * 5000,
)

#: The keys each platform really sends, for `shaped`.
V1_KEYS = (
    "id", "id_str", "text", "full_text", "truncated", "extended_tweet", "entities", "urls",
    "expanded_url", "unwound_url", "url", "hashtags", "user_mentions", "user", "screen_name",
    "protected", "lang", "retweeted_status", "is_quote_status", "quoted_status",
    "quoted_status_id_str", "in_reply_to_status_id_str", "in_reply_to_user_id",
    "in_reply_to_user_id_str", "display_text_range", "tag", "indices",
)  # fmt: skip
V2_KEYS = (
    "data", "includes", "tweets", "users", "id", "author_id", "text", "note_tweet", "entities",
    "urls", "expanded_url", "unwound_url", "url", "hashtags", "mentions", "username", "tag",
    "referenced_tweets", "type", "replied_to", "quoted", "retweeted", "in_reply_to_user_id",
    "lang", "protected", "matching_rules",
)  # fmt: skip
DM_KEYS = (
    "type", "id", "created_timestamp", "message_create", "sender_id", "target",
    "recipient_id", "message_data", "text", "entities", "urls", "expanded_url", "url",
    "hashtags", "screen_name", "protected",
)  # fmt: skip
SLACK_KEYS = (
    "type", "user", "user_id", "user_name", "text", "channel", "channel_id", "team_id",
    "enterprise_id", "trigger_id", "response_url", "command", "event_id", "ts", "thread_ts",
    "bot_id", "subtype", "item", "reaction", "event", "authorizations", "actions", "enterprise",
    "team", "challenge", "token", "api_app_id", "channel_type", "event_ts", "action_id",
    "is_enterprise_install", "view", "message", "container",
)  # fmt: skip
DISCORD_KEYS = ("content", "embeds", "url", "title", "description", "fields", "value", "name")
MASTODON_KEYS = (
    "type", "id", "status", "account", "acct", "username", "bot", "content", "tags", "name",
    "card", "url", "reblog", "visibility", "language", "in_reply_to_id",
)  # fmt: skip

text = st.one_of(st.sampled_from(INTERESTING_TEXT), st.text(max_size=60))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
any_json: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def shaped(keys: Iterable[str], *, max_leaves: int = 30) -> st.SearchStrategy[dict[str, Any]]:
    """Objects built from `keys` (at every level) holding any JSON value."""
    vocabulary = sorted(set(keys))
    known = st.sampled_from(vocabulary)
    key = st.one_of(known, known, known, st.text(max_size=8))  # mostly keys that mean something
    values: st.SearchStrategy[Any] = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(key, inner, max_size=6)
        ),
        max_leaves=max_leaves,
    )
    return st.dictionaries(key, values, max_size=8)


#: JSON nested deeper than Python's parser goes (it raises RecursionError, not ValueError).
deeply_nested = st.builds(
    lambda depth, opener: opener * depth + (b"]" if opener == b"[" else b"") * depth,
    st.integers(min_value=900, max_value=3000),
    st.sampled_from([b"[", b'{"a":']),
)
