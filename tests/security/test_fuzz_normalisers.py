"""Hypothesis into every platform's event normaliser: hostile JSON and text never crash one.

A normaliser reads what a stranger can send. Its contract: return a result (a command, a trigger
or None for "asks for nothing") or raise `ValueError` for a payload too malformed to read, which
the caller answers as bad input. Any other exception would escape as a 500 or kill a listener.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hashcart import Action, ProductRef
from hashcart_discord.links import message_barcodes, message_links, message_references
from hashcart_discord.reactions import Reaction, reaction_commands
from hashcart_mastodon.statuses import has_tag, read_content, reply_text, status_links, trigger_from
from hashcart_slack.commands import from_event, from_slash_command, is_from_bot
from hashcart_slack.parse import parse_command, unwrap, urls_in
from hashcart_twitter.normalize import (
    Rules,
    trigger_from_dm,
    trigger_from_v1,
    trigger_from_v2,
)
from tests.security.fuzzing import FUZZ
from tests.security.strategies import (
    DISCORD_KEYS,
    DM_KEYS,
    MASTODON_KEYS,
    SLACK_KEYS,
    V1_KEYS,
    V2_KEYS,
    any_json,
    shaped,
    text,
)

#: Pure functions are cheap: many more examples than a test that goes through a server.
PURE = settings(FUZZ, max_examples=200)

RULES = Rules(hashtag="amazoncart", ignores=lambda user_id: user_id == "666", bot_user_id="42")


def read_or_refuse(read: Callable[[], Any]) -> Any:
    """Run one normaliser call; only the documented `ValueError` may come out of it."""
    try:
        return read()
    except ValueError:
        return None


def command_of(trigger: Any) -> None:
    """A trigger that was read must also make a command (and a command checks its own fields)."""
    if trigger is not None:
        read_or_refuse(lambda: trigger.command("https://www.amazon.com/dp/B00X4WHP5E"))


# -- X ------------------------------------------------------------------------------------------


@PURE
@given(tweet=st.one_of(shaped(V1_KEYS), st.dictionaries(st.text(), any_json)))
def test_hostile_v1_tweets_never_crash_the_x_normaliser(tweet: dict[str, Any]) -> None:
    command_of(read_or_refuse(lambda: trigger_from_v1(tweet, RULES)))


@PURE
@given(envelope=shaped(V2_KEYS))
def test_hostile_v2_stream_lines_never_crash_the_x_normaliser(envelope: dict[str, Any]) -> None:
    command_of(read_or_refuse(lambda: trigger_from_v2(envelope, RULES)))


@PURE
@given(event=shaped(DM_KEYS), users=shaped(DM_KEYS), for_user_id=st.none() | text)
def test_hostile_direct_messages_never_crash_the_x_normaliser(
    event: dict[str, Any], users: dict[str, Any], for_user_id: str | None
) -> None:
    command_of(read_or_refuse(lambda: trigger_from_dm(event, users, RULES, for_user_id)))


# -- Slack --------------------------------------------------------------------------------------


@PURE
@given(words=text)
def test_hostile_slash_command_text_never_crashes_the_slack_parser(words: str) -> None:
    parsed = parse_command(words)
    assert 1 <= parsed.quantity <= 999
    assert isinstance(unwrap(words), str)
    assert all(isinstance(url, str) for url in urls_in(words))


@PURE
@given(payload=shaped(SLACK_KEYS))
def test_hostile_slash_command_payloads_never_crash_the_slack_normaliser(
    payload: dict[str, Any],
) -> None:
    read_or_refuse(lambda: from_slash_command(payload))


@PURE
@given(body=shaped(SLACK_KEYS), event=shaped(SLACK_KEYS), user=text, channel=text)
def test_hostile_events_never_crash_the_slack_normaliser(
    body: dict[str, Any], event: dict[str, Any], user: str, channel: str
) -> None:
    assert isinstance(is_from_bot(event), bool)
    read_or_refuse(
        lambda: from_event(
            body,
            action=Action.ADD,
            user_id=user,
            channel=channel,
            reference="https://www.amazon.com/dp/B00X4WHP5E",
            thread_ts=event.get("thread_ts"),  # as the listener passes it
        )
    )


# -- Discord ------------------------------------------------------------------------------------


@PURE
@given(message=st.one_of(shaped(DISCORD_KEYS), st.dictionaries(st.text(), any_json)))
def test_hostile_messages_never_crash_the_discord_link_reader(message: dict[str, Any]) -> None:
    references = message_references(message)
    assert list(references.links) == message_links(message)
    assert list(references.barcodes) == message_barcodes(message)


@PURE
@given(
    ids=st.tuples(*[st.integers(min_value=0, max_value=2**64)] * 3),
    emoji=text,
    removed=st.booleans(),
    guild=st.none() | st.integers(min_value=0, max_value=2**64),
    name=st.none() | text,
    links=st.lists(text, max_size=3),
    codes=st.lists(st.tuples(text, st.none() | st.just(ProductRef("amazon", "B00X4WHP5E")))),
)
def test_hostile_reactions_never_crash_the_discord_normaliser(
    ids: tuple[int, int, int],
    emoji: str,
    removed: bool,
    guild: int | None,
    name: str | None,
    links: list[str],
    codes: list[tuple[str, ProductRef | None]],
) -> None:
    message_id, channel_id, user_id = ids
    reaction = Reaction(message_id, channel_id, user_id, emoji, removed, guild, name)
    commands = read_or_refuse(lambda: reaction_commands(reaction, [], links, codes))
    for command in commands or ():
        assert command.reply_to.private, "Discord answers only by DM"


# -- Mastodon -----------------------------------------------------------------------------------


@PURE
@given(notification=shaped(MASTODON_KEYS), bot_id=st.none() | text)
def test_hostile_notifications_never_crash_the_mastodon_normaliser(
    notification: dict[str, Any], bot_id: str | None
) -> None:
    trigger = read_or_refuse(
        lambda: trigger_from(notification, hashtag="amazoncart", bot_id=bot_id)
    )
    command_of(trigger)


@PURE
@given(content=text, status=shaped(MASTODON_KEYS), acct=st.none() | text)
def test_hostile_status_html_never_crashes_the_mastodon_reader(
    content: str, status: dict[str, Any], acct: str | None
) -> None:
    links, plain = read_content(content)
    assert all(link.lower().startswith(("http://", "https://")) for link in links)
    assert isinstance(plain, str)
    assert isinstance(has_tag(status, "amazoncart"), bool)
    assert all(isinstance(link, str) for link in status_links(status))
    assert len(reply_text(acct, content)) <= 500
