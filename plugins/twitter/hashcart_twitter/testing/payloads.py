"""What X sends and signs, built as X builds it: tweets, users, DMs, webhook deliveries and
stream lines, so a test can deliver them or the stand-in can serve them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

BOT_USER_ID = "2244994945"
BOT_SCREEN_NAME = "hashcart"

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
#: Twitter's epoch (2010-11-04) for snowflake ids, so ids look and sort like real ones.
_TWEPOCH_MS = 1288834974657
_sequence = itertools.count(1)
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
_MENTION = re.compile(r"(?<![\w@])@(\w{1,15})")
_URL = re.compile(r"https?://\S+")


def sign_delivery(secret: str, body: bytes) -> str:
    """The `x-twitter-webhooks-signature` X puts on a delivery of exactly these bytes."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def crc_response(secret: str, crc_token: str) -> dict[str, str]:
    """The body X expects back from `GET <webhook>?crc_token=...`."""
    return {"response_token": sign_delivery(secret, crc_token.encode())}


def new_tweet_id() -> str:
    """A snowflake-shaped id: unique, increasing, 18-19 digits like X's."""
    millis = int(time.time() * 1000) - _TWEPOCH_MS
    return str((millis << 22) | (next(_sequence) & 0x3FFFFF))


def _user_id_for(screen_name: str) -> str:
    if screen_name.lower() == BOT_SCREEN_NAME:  # so that `@hashcart` mentions carry the bot's id
        return BOT_USER_ID
    digest = hashlib.sha256(screen_name.lower().encode()).digest()
    return str(10_000_000 + int.from_bytes(digest[:6], "big") % 10**12)


def user(
    screen_name: str,
    user_id: str | None = None,
    *,
    name: str | None = None,
    protected: bool = False,
) -> dict[str, Any]:
    """A v1.1 user object; the id is derived from the handle unless given."""
    uid = user_id or _user_id_for(screen_name)
    return {
        "id": int(uid),
        "id_str": uid,
        "name": name or screen_name.capitalize(),
        "screen_name": screen_name,
        "protected": protected,
        "verified": False,
        "followers_count": 42,
        "friends_count": 17,
        "statuses_count": 1234,
        "lang": None,
    }


def _created_at(tweet_id: str) -> str:
    millis = (int(tweet_id) >> 22) + _TWEPOCH_MS
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return moment.strftime("%a %b %d %H:%M:%S +0000 %Y")


def _entities(text: str, urls: Mapping[str, str]) -> dict[str, Any]:
    """v1.1 entities for `text`, whose t.co links map to the expanded URLs in `urls`."""
    hashtags = [
        {"text": m.group(1), "indices": [m.start(), m.end()]} for m in _HASHTAG.finditer(text)
    ]
    mentions = [
        {
            "screen_name": m.group(1),
            "name": m.group(1).capitalize(),
            "id": int(_user_id_for(m.group(1))),
            "id_str": _user_id_for(m.group(1)),
            "indices": [m.start(), m.end()],
        }
        for m in _MENTION.finditer(text)
    ]
    url_entities = []
    for m in _URL.finditer(text):
        expanded = urls.get(m.group(0))
        if expanded is None:
            continue
        display = re.sub(r"^https?://(www\.)?", "", expanded)
        url_entities.append(
            {
                "url": m.group(0),
                "expanded_url": expanded,
                "display_url": display if len(display) <= 26 else display[:25] + "…",
                "indices": [m.start(), m.end()],
            }
        )
    return {"hashtags": hashtags, "urls": url_entities, "user_mentions": mentions, "symbols": []}


def _with_links(text: str, links: Sequence[str]) -> tuple[str, dict[str, str]]:
    """X wraps every link in a t.co URL; the text carries the wrappers, entities the originals."""
    wrapped: dict[str, str] = {}
    for link in links:
        short = "https://t.co/" + secrets.token_urlsafe(7)[:10]
        wrapped[short] = link
        text = f"{text} {short}" if text else short
    return text, wrapped


def tweet(
    text: str,
    *,
    user: Mapping[str, Any],
    urls: Sequence[str] = (),
    in_reply_to: Mapping[str, Any] | None = None,
    tweet_id: str | None = None,
    lang: str = "en",
) -> dict[str, Any]:
    """A v1.1 tweet as `tweet_create_events` carries it: `urls` appended as t.co links (expanded
    in `entities.urls`); a reply to `in_reply_to` starts with `@author`."""
    tid = tweet_id or new_tweet_id()
    if in_reply_to is not None:
        parent_author = in_reply_to["user"]["screen_name"]
        if not text.lower().startswith(f"@{parent_author.lower()}"):
            text = f"@{parent_author} {text}"
    full, wrapped = _with_links(text, urls)
    body: dict[str, Any] = {
        "created_at": _created_at(tid),
        "id": int(tid),
        "id_str": tid,
        "text": full,
        "display_text_range": [0, len(full)],
        "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
        "truncated": False,
        "in_reply_to_status_id": None,
        "in_reply_to_status_id_str": None,
        "in_reply_to_user_id": None,
        "in_reply_to_user_id_str": None,
        "in_reply_to_screen_name": None,
        "user": dict(user),
        "geo": None,
        "coordinates": None,
        "place": None,
        "contributors": None,
        "is_quote_status": False,
        "quote_count": 0,
        "reply_count": 0,
        "retweet_count": 0,
        "favorite_count": 0,
        "entities": _entities(full, wrapped),
        "favorited": False,
        "retweeted": False,
        "filter_level": "low",
        "lang": lang,
        "timestamp_ms": str((int(tid) >> 22) + _TWEPOCH_MS),
    }
    if in_reply_to is not None:
        body.update(_reply_fields(in_reply_to))
    if urls:
        body["possibly_sensitive"] = False
    return body


def _reply_fields(parent: Mapping[str, Any]) -> dict[str, Any]:
    parent_user = parent["user"]
    return {
        "in_reply_to_status_id": int(parent["id_str"]),
        "in_reply_to_status_id_str": parent["id_str"],
        "in_reply_to_user_id": int(parent_user["id_str"]),
        "in_reply_to_user_id_str": parent_user["id_str"],
        "in_reply_to_screen_name": parent_user["screen_name"],
    }


def long_tweet(text: str, *, user: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """A post over 140 characters (`fields` as for `tweet`): `text` is cut with `…`, the whole
    lives in `extended_tweet`.

    Entities at the top level only cover the cut text, as X sends it, so a hashtag or link near
    the end is visible only in `extended_tweet.entities`.
    """
    whole = tweet(text, user=user, **fields)
    full_text = whole["text"]
    if len(full_text) <= 140:
        return whole
    permalink = f"https://twitter.com/i/web/status/{whole['id_str']}"
    short_link, wrapped = _with_links("", [permalink])
    cut = full_text[:138].rstrip() + "…"
    truncated = f"{cut} {short_link}"
    full_urls = {e["url"]: e["expanded_url"] for e in whole["entities"]["urls"]}
    whole.update(
        text=truncated,
        truncated=True,
        display_text_range=[0, len(cut)],
        entities=_entities(
            truncated, {**{k: v for k, v in full_urls.items() if k in cut}, **wrapped}
        ),
        extended_tweet={
            "full_text": full_text,
            "display_text_range": [0, len(full_text)],
            "entities": _entities(full_text, full_urls),
        },
    )
    return whole


def quote_tweet(
    text: str, *, user: Mapping[str, Any], quoted: Mapping[str, Any], embed: bool = True
) -> dict[str, Any]:
    """A quote post of `quoted`; with `embed=False` only its id travels (X does that too)."""
    body = tweet(text, user=user)
    handle = quoted["user"]["screen_name"]
    permalink = f"https://twitter.com/{handle}/status/{quoted['id_str']}"
    body.update(
        is_quote_status=True,
        quoted_status_id=int(quoted["id_str"]),
        quoted_status_id_str=quoted["id_str"],
        quoted_status_permalink={
            "url": "https://t.co/" + secrets.token_urlsafe(7)[:10],
            "expanded": permalink,
            "display": f"twitter.com/{handle}/status/{quoted['id_str'][:4]}…",
        },
    )
    if embed:
        body["quoted_status"] = dict(quoted)
    return body


def retweet(original: Mapping[str, Any], *, user: Mapping[str, Any]) -> dict[str, Any]:
    """A retweet: `RT @author: ...` at the top, the original in `retweeted_status`."""
    handle = original["user"]["screen_name"]
    body = tweet(f"RT @{handle}: {original['text']}"[:140], user=user)
    body["entities"] = dict(original["entities"])
    body["retweeted_status"] = dict(original)
    return body


def delivery(tweets: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The Account Activity envelope around `tweet_create_events`."""
    return {
        "for_user_id": BOT_USER_ID,
        "user_has_blocked": "false",
        "tweet_create_events": [dict(t) for t in tweets],
    }


def direct_message(
    text: str,
    *,
    sender: Mapping[str, Any],
    recipient_id: str = BOT_USER_ID,
    urls: Sequence[str] = (),
) -> dict[str, Any]:
    """One `direct_message_events` entry (`message_create`), links wrapped in t.co as in tweets."""
    eid = new_tweet_id()
    full, wrapped = _with_links(text, urls)
    entities = _entities(full, wrapped)
    return {
        "type": "message_create",
        "id": eid,
        "created_timestamp": str((int(eid) >> 22) + _TWEPOCH_MS),
        "message_create": {
            "target": {"recipient_id": recipient_id},
            "sender_id": sender["id_str"],
            "source_app_id": "268278",
            "message_data": {"text": full, "entities": entities},
        },
    }


def dm_delivery(
    messages: Iterable[Mapping[str, Any]], *, users: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """The Account Activity envelope around `direct_message_events`, with the `users` map."""
    return {
        "for_user_id": BOT_USER_ID,
        "direct_message_events": [dict(m) for m in messages],
        "apps": {"268278": {"id": "268278", "name": "Twitter Web App"}},
        "users": {
            u["id_str"]: {
                "id": u["id_str"],
                "created_timestamp": "1422556069340",
                "name": u.get("name", u["screen_name"]),
                "screen_name": u["screen_name"],
                "protected": bool(u.get("protected", False)),
                "verified": bool(u.get("verified", False)),
                "followers_count": u.get("followers_count", 0),
                "friends_count": u.get("friends_count", 0),
                "statuses_count": u.get("statuses_count", 0),
            }
            for u in users
        },
    }


#: v1.1 entity kinds as v2 names them, and which v2 field takes which v1.1 one.
_V2_ENTITIES = {
    "hashtags": ("hashtags", {"tag": "text"}),
    "urls": ("urls", {"url": "url", "expanded_url": "expanded_url", "display_url": "display_url"}),
    "user_mentions": ("mentions", {"username": "screen_name", "id": "id_str"}),
}


def _v2_entities(v1: Mapping[str, Any]) -> dict[str, Any]:
    source = v1.get("extended_tweet", {}).get("entities") or v1.get("entities") or {}
    return {
        v2_kind: [
            {"start": e["indices"][0], "end": e["indices"][1], **{k: e[v] for k, v in keys.items()}}
            for e in source[v1_kind]
        ]
        for v1_kind, (v2_kind, keys) in _V2_ENTITIES.items()
        if source.get(v1_kind)
    }


def to_v2(v1: Mapping[str, Any], *, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The v2 `data` object of a v1.1 tweet, with only the `tweet.fields` asked for."""
    wanted = set(fields) if fields is not None else {
        "author_id", "conversation_id", "entities", "referenced_tweets", "lang",
        "in_reply_to_user_id", "created_at",
    }  # fmt: skip
    text = v1.get("extended_tweet", {}).get("full_text") or v1.get("text", "")
    data: dict[str, Any] = {
        "id": v1["id_str"],
        "text": text,
        "edit_history_tweet_ids": [v1["id_str"]],
    }
    references = []
    if v1.get("retweeted_status"):
        references.append({"type": "retweeted", "id": v1["retweeted_status"]["id_str"]})
    if v1.get("is_quote_status") and v1.get("quoted_status_id_str"):
        references.append({"type": "quoted", "id": v1["quoted_status_id_str"]})
    if v1.get("in_reply_to_status_id_str"):
        references.append({"type": "replied_to", "id": v1["in_reply_to_status_id_str"]})
    optional: dict[str, Any] = {
        "author_id": v1["user"]["id_str"],
        "conversation_id": v1.get("_conversation_id") or v1["id_str"],
        "lang": v1.get("lang"),
        "created_at": datetime.strptime(v1["created_at"], "%a %b %d %H:%M:%S %z %Y")
        .astimezone(UTC)
        .strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    if v1.get("in_reply_to_user_id_str"):
        optional["in_reply_to_user_id"] = v1["in_reply_to_user_id_str"]
    entities = _v2_entities(v1)
    if entities:
        optional["entities"] = entities
    if references:
        optional["referenced_tweets"] = references
    data.update({k: v for k, v in optional.items() if k in wanted and v is not None})
    return data


def _v2_user(v1_user: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": v1_user["id_str"],
        "name": v1_user.get("name", v1_user["screen_name"]),
        "username": v1_user["screen_name"],
        "protected": bool(v1_user.get("protected", False)),
    }


def v2_envelope(
    v1: Mapping[str, Any],
    *,
    known: Mapping[str, Mapping[str, Any]] | None = None,
    expansions: Iterable[str] | None = None,
    fields: Iterable[str] | None = None,
    visible: Callable[[Mapping[str, Any]], bool] = lambda _: True,
) -> dict[str, Any]:
    """A tweet as v2 sends it: `data`, and `includes` with what the expansions ask for.

    Referenced tweets are included when embedded in `v1` or present in `known` (id -> v1 tweet)
    and `visible` to the reader. `expansions` (None: every one) bring the author with
    `author_id`, the referenced tweets with `referenced_tweets.id`, their authors with
    `referenced_tweets.id.author_id`.
    """
    wanted = set(expansions) if expansions is not None else {
        "author_id", "referenced_tweets.id", "referenced_tweets.id.author_id",
    }  # fmt: skip
    users: dict[str, dict[str, Any]] = {}
    if "author_id" in wanted:
        users[v1["user"]["id_str"]] = _v2_user(v1["user"])
    included = []
    embedded = {}
    if v1.get("quoted_status"):
        embedded[v1["quoted_status"]["id_str"]] = v1["quoted_status"]
    references = to_v2(v1).get("referenced_tweets", [])
    for ref in references if {"referenced_tweets.id", "referenced_posts.id"} & wanted else ():
        ref_tweet = embedded.get(ref["id"]) or (known or {}).get(ref["id"])
        if ref_tweet is None or not visible(ref_tweet):
            continue
        included.append(to_v2(ref_tweet, fields=fields))
        if "referenced_tweets.id.author_id" in wanted:
            users.setdefault(ref_tweet["user"]["id_str"], _v2_user(ref_tweet["user"]))
    includes: dict[str, Any] = {"users": list(users.values())} if users else {}
    if included:
        includes["tweets"] = included
    return {"data": to_v2(v1, fields=fields), "includes": includes}


def stream_message(
    v1: Mapping[str, Any],
    *,
    known: Mapping[str, Mapping[str, Any]] | None = None,
    matching_rules: Sequence[Mapping[str, str]] = (),
    expansions: Iterable[str] | None = None,
    app_only: bool = False,
) -> dict[str, Any]:
    """One filtered-stream object: the `v2_envelope` and the rules matched. An `app_only` reader
    (the stream's bearer token) does not see protected tweets, so X leaves those out."""
    envelope = v2_envelope(
        v1,
        known=known,
        expansions=expansions,
        visible=lambda t: not (app_only and t["user"].get("protected")),
    )
    rules = [{"id": r["id"], "tag": r.get("tag", "")} for r in matching_rules]
    return {**envelope, "matching_rules": rules}
