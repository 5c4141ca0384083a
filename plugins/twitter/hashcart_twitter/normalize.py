"""Read X tweet payloads into `Trigger`s and `CartCommand`s, with no I/O.

Account Activity deliveries carry v1.1 tweet objects and DMs; the filtered stream and tweet
lookup speak v2. All end up as one `Trigger` so that choosing the product (see `ingest.py`) and
building the command are written once. Anything that is not a request from a person - the bot's
own posts, retweets, tweets without the hashtag, ignored accounts - yields `None`. A DM is always
addressed to the bot, so `#confirm` can answer the DM that asked for it.

A product taken from a quoted or replied-to tweet that not everyone may read (its author is
protected, or the payload does not say who wrote it) is never named in public: the answer goes
by DM, as for a protected asker.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hashcart import CartCommand, ProductRef, ReplyTarget, extract_urls, has_hashtag
from hashcart_twitter.verbs import ADD, Verb, barcodes_in, choose_verb

PLATFORM = "twitter"

# Hosts whose links never name a product: t.co wrappers and links to other posts (quote permalinks).
_NOT_PRODUCT_HOSTS = frozenset(
    {"t.co", "twitter.com", "www.twitter.com", "mobile.twitter.com", "x.com", "www.x.com"}
)
# X's `lang` values that are not languages: undefined, no linguistic content, media-only posts.
_NOT_LANGUAGES = frozenset({"und", "zxx", "qam", "qct", "qht", "qme", "qst"})
_LANG = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")

Json = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Trigger:
    """A tweet that asks hashcart for something, before its product link has been chosen.

    Links are grouped by where they were found, in the order they are tried: the tweet itself,
    the quoted tweet, the tweet replied to. `None` for a group means "not in the payload, look the
    tweet up by its id"; an empty tuple means the tweet is known to hold no link. `quoted_public`
    and `parent_public` say whether those known links come from a tweet everyone may read.
    """

    tweet_id: str
    user_id: str
    screen_name: str | None
    protected: bool
    locale: str | None
    links: tuple[str, ...]
    quoted_id: str | None = None
    quoted_links: tuple[str, ...] | None = None
    parent_id: str | None = None
    parent_links: tuple[str, ...] | None = None
    quoted_public: bool = False
    parent_public: bool = False
    verb: Verb = ADD
    barcodes: tuple[str, ...] = ()
    direct_message: bool = False

    def command(
        self,
        reference: str | None,
        product: ProductRef | None = None,
        *,
        from_private_tweet: bool = False,
    ) -> CartCommand:
        """The command this tweet stands for (its id makes redeliveries harmless); a reference
        `from_private_tweet` not everyone may read makes the answer, which names it, private."""
        extra = {"screen_name": self.screen_name} if self.screen_name else {}
        # A DM has no thread to reply in; its event id gets a prefix to say what kind of id it is.
        event_id = f"dm-{self.tweet_id}" if self.direct_message else self.tweet_id
        return CartCommand(
            platform=PLATFORM,
            user_id=self.user_id,
            action=self.verb.action,
            event_id=event_id,
            reply_to=ReplyTarget(
                platform=PLATFORM,
                user=self.user_id,
                channel=None if self.direct_message else self.tweet_id,
                private=(
                    self.protected or self.verb.private or self.direct_message or from_private_tweet
                ),
                extra=extra,
            ),
            product=product,
            reference=reference,
            argument=self.verb.argument,
            user_name=self.screen_name,
            locale=self.locale,
        )


@dataclass(frozen=True, slots=True)
class Rules:
    """What makes a tweet a command: the trigger hashtag, who is never listened to, and the bot
    (a `#checkout` or `#confirm` must be addressed to it)."""

    hashtag: str
    ignores: Callable[[str], bool]
    bot_user_id: str | None = None


def trigger_from_v1(tweet: Json, rules: Rules) -> Trigger | None:
    """The trigger in one `tweet_create_events` entry, or None when it asks for nothing; a
    `ValueError` for a tweet too malformed to read (no id or no author)."""
    tweet_id = _id(tweet)
    user = tweet.get("user")
    if not isinstance(user, Mapping):
        raise ValueError(f"tweet {tweet_id} has no user")
    user_id = _id(user)
    if rules.ignores(user_id) or tweet.get("retweeted_status") is not None:
        return None
    text = v1_text(tweet)
    hashtags = _v1_entries(tweet, "hashtags")
    verb = choose_verb(
        text,
        rules.hashtag,
        has_tag=lambda tag: _has_tag(hashtags, "text", text, tag),
        to_bot=_v1_to_bot(tweet, rules.bot_user_id),
    )
    if verb is None:
        return None
    quoted_id = _str(tweet.get("quoted_status_id_str")) if tweet.get("is_quote_status") else None
    quoted = tweet.get("quoted_status")
    quoted_links = v1_links(quoted) if isinstance(quoted, Mapping) else None
    quoted_public = isinstance(quoted, Mapping) and _v1_public(quoted)
    if quoted_id is None and isinstance(quoted, Mapping):
        quoted_id = _str(quoted.get("id_str"))
    return Trigger(
        tweet_id=tweet_id,
        user_id=user_id,
        screen_name=_str(user.get("screen_name")),
        protected=_truthy(user.get("protected")),
        locale=locale_from(tweet.get("lang")),
        links=v1_links(tweet),
        quoted_id=quoted_id,
        quoted_links=quoted_links,
        quoted_public=quoted_public,
        parent_id=_str(tweet.get("in_reply_to_status_id_str")),
        verb=verb,
        barcodes=barcodes_in(text),
    )


def _v1_public(tweet: Json) -> bool:
    """Whether everyone may read the tweet: its author is known and not protected."""
    return _falsy(_map(tweet.get("user")).get("protected"))


def v1_text(tweet: Json) -> str:
    """The whole text: long posts keep it in `extended_tweet.full_text`, REST in `full_text`."""
    extended = _map(tweet.get("extended_tweet"))
    for text in (extended.get("full_text"), tweet.get("full_text"), tweet.get("text")):
        if isinstance(text, str):
            return text
    return ""


def v1_links(tweet: Json) -> tuple[str, ...]:
    """Links a person put in the tweet, unwrapped from t.co, in order."""
    urls = _expanded(_v1_entries(tweet, "urls"), "expanded_url", "url")
    urls = urls or extract_urls(v1_text(tweet))
    return _product_candidates(urls)


def _v1_entries(tweet: Json, kind: str) -> list[Any]:
    """One kind of entity, from `extended_tweet` (long posts) and the top level alike."""
    found = (_map(tweet.get("extended_tweet")).get("entities"), tweet.get("entities"))
    return [entry for entities in found for entry in _list(_map(entities).get(kind))]


def _v1_to_bot(tweet: Json, bot_user_id: str | None) -> bool:
    """Whether the tweet replies to one of the bot's tweets or @mentions the bot."""
    if bot_user_id is None:
        return False
    if _str(tweet.get("in_reply_to_user_id_str")) == bot_user_id:
        return True
    return any(
        isinstance(entry, Mapping) and _str(entry.get("id_str") or entry.get("id")) == bot_user_id
        for entry in _v1_entries(tweet, "user_mentions")
    )


def trigger_from_v2(envelope: Json, rules: Rules) -> Trigger | None:
    """The trigger in one v2 `{"data", "includes"}` object (a stream line), or None; a
    `ValueError` when it holds no readable tweet. Referenced tweets missing from
    `includes.tweets` are looked up later."""
    data = envelope.get("data")
    if not isinstance(data, Mapping):
        raise ValueError("a v2 tweet object needs 'data'")
    tweet_id = _id(data)
    user_id = _str(data.get("author_id"))
    if user_id is None:
        raise ValueError(f"tweet {tweet_id} has no author_id")
    includes = _map(envelope.get("includes"))
    references = {
        str(ref.get("type")): _str(ref.get("id"))
        for ref in _list(data.get("referenced_tweets"))
        if isinstance(ref, Mapping)
    }
    if rules.ignores(user_id) or "retweeted" in references:
        return None
    text = _v2_text(data)
    hashtags = _list(_map(data.get("entities")).get("hashtags"))
    verb = choose_verb(
        text,
        rules.hashtag,
        has_tag=lambda tag: _has_tag(hashtags, "tag", text, tag),
        to_bot=_v2_to_bot(data, rules.bot_user_id),
    )
    if verb is None:
        return None
    included = {
        str(t.get("id")): t for t in _list(includes.get("tweets")) if isinstance(t, Mapping)
    }
    users = _v2_users(includes)
    author = users.get(user_id, {})
    quoted_id = references.get("quoted")
    parent_id = references.get("replied_to")
    quoted = included.get(quoted_id) if quoted_id else None
    parent = included.get(parent_id) if parent_id else None
    return Trigger(
        tweet_id=tweet_id,
        user_id=user_id,
        screen_name=_str(author.get("username")),
        protected=_truthy(author.get("protected")),
        locale=locale_from(data.get("lang")),
        links=v2_links(data),
        quoted_id=quoted_id,
        quoted_links=v2_links(quoted) if quoted is not None else None,
        quoted_public=quoted is not None and _v2_public(quoted, users),
        parent_id=parent_id,
        parent_links=v2_links(parent) if parent is not None else None,
        parent_public=parent is not None and _v2_public(parent, users),
        verb=verb,
        barcodes=barcodes_in(text),
    )


def v2_referenced(envelope: Json) -> tuple[tuple[str, ...], bool]:
    """The links of a looked-up v2 tweet (`{"data", "includes"}`), and whether it is public."""
    data = envelope.get("data")
    if not isinstance(data, Mapping):
        return (), False
    users = _v2_users(_map(envelope.get("includes")))
    return v2_links(data), _v2_public(data, users)


def _v2_users(includes: Json) -> dict[str, Json]:
    return {str(u.get("id")): u for u in _list(includes.get("users")) if isinstance(u, Mapping)}


def _v2_public(data: Json, users: Mapping[str, Json]) -> bool:
    """Whether everyone may read the tweet: its author is in `includes.users` (for a referenced
    tweet only with the `referenced_tweets.id.author_id` expansion) and not protected."""
    return _falsy(_map(users.get(_str(data.get("author_id")) or "")).get("protected"))


def v2_links(data: Json) -> tuple[str, ...]:
    """Links in a v2 tweet's entities (`unwound_url` when X followed a redirect already)."""
    entries = _list(_map(data.get("entities")).get("urls"))
    urls = _expanded(entries, "unwound_url", "expanded_url", "url")
    if not urls and isinstance(data.get("text"), str):
        urls = extract_urls(str(data["text"]))
    return _product_candidates(urls)


def _v2_text(data: Json) -> str:
    note = data.get("note_tweet")  # v2 keeps long posts' full text here
    text = str(data.get("text") or "")
    if isinstance(note, Mapping) and isinstance(note.get("text"), str):
        text = f"{text}\n{note['text']}"
    return text


def _v2_to_bot(data: Json, bot_user_id: str | None) -> bool:
    """Whether the tweet replies to one of the bot's tweets or @mentions the bot."""
    if bot_user_id is None:
        return False
    if _str(data.get("in_reply_to_user_id")) == bot_user_id:
        return True
    mentions = _list(_map(data.get("entities")).get("mentions"))
    return any(isinstance(m, Mapping) and _str(m.get("id")) == bot_user_id for m in mentions)


def trigger_from_dm(
    event: Json, users: Json, rules: Rules, for_user_id: str | None
) -> Trigger | None:
    """The trigger in one `direct_message_events` entry, or None (the bot's own DMs arrive too,
    sent by `for_user_id`); a `ValueError` for an event too malformed to read."""
    if event.get("type") != "message_create":
        return None
    event_id = _id(event)
    create = event.get("message_create")
    if not isinstance(create, Mapping):
        raise ValueError(f"direct message {event_id} has no message_create")
    sender = _str(create.get("sender_id"))
    if sender is None:
        raise ValueError(f"direct message {event_id} has no sender_id")
    if sender == for_user_id or rules.ignores(sender):
        return None
    data = _map(create.get("message_data"))
    text = str(data.get("text") or "")
    entities = _map(data.get("entities"))
    hashtags = _list(entities.get("hashtags"))
    verb = choose_verb(
        text, rules.hashtag, has_tag=lambda tag: _has_tag(hashtags, "text", text, tag), to_bot=True
    )
    if verb is None:
        return None
    urls = _expanded(_list(entities.get("urls")), "expanded_url", "url")
    author = _map(users.get(sender))
    return Trigger(
        tweet_id=event_id,
        user_id=sender,
        screen_name=_str(author.get("screen_name")),
        protected=_truthy(author.get("protected")),
        locale=None,  # DMs carry no language; the account's or the default one is used
        links=_product_candidates(urls or extract_urls(text)),
        verb=verb,
        barcodes=barcodes_in(text),
        direct_message=True,
    )


def locale_from(lang: object) -> str | None:
    """X's BCP 47 `lang`, or None for its not-a-language codes (`und`, `qme`, ...)."""
    if not isinstance(lang, str) or lang in _NOT_LANGUAGES or not _LANG.match(lang):
        return None
    return lang


def _has_tag(entries: Sequence[Any], key: str, text: str, hashtag: str) -> bool:
    """In the hashtag entities X parsed (`key` names the tag's field), else in the text."""
    wanted = hashtag.casefold()
    return any(
        isinstance(entry, Mapping) and str(entry.get(key, "")).casefold() == wanted
        for entry in entries
    ) or has_hashtag(text, hashtag)


def _expanded(entries: Sequence[Any], *keys: str) -> list[str]:
    """The link of each URL entity: its first of `keys` that is set."""
    return [
        str(next((entry[key] for key in keys if entry.get(key)), ""))
        for entry in entries
        if isinstance(entry, Mapping)
    ]


def _product_candidates(urls: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for url in urls:
        url = url.strip()
        if not url.lower().startswith(("http://", "https://")):
            continue
        host = (urlsplit(url).hostname or "").lower()
        if host not in _NOT_PRODUCT_HOSTS:
            seen.setdefault(url, None)
    return tuple(seen)


def _id(obj: Json) -> str:
    value = _str(obj.get("id_str")) or _str(obj.get("id"))
    if value is None or not value.isdigit():
        raise ValueError(f"object without a usable id: {obj.get('id_str') or obj.get('id')!r}")
    return value


def _str(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return str(value).strip() or None


def _truthy(value: object) -> bool:
    """X writes some booleans as strings ("false"); only true and "true" count."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _falsy(value: object) -> bool:
    """An explicit false (or "false"); a missing value is not one."""
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _list(value: object) -> Sequence[Any]:
    return value if isinstance(value, list) else ()


def _map(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}
