"""The X plugin's parts one by one: reading payloads, choosing the link, shaping and sending text.

Payloads come from the stand-in's builders, so these tests read the same shapes X sends.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import aiohttp
import pytest

from hashcart import (
    Action,
    Outcome,
    OutcomeCode,
    OutgoingReply,
    ProductRef,
    ReplyContent,
    ReplyTarget,
    RetryLater,
    SendRefused,
)
from hashcart_twitter import doctor_rows
from hashcart_twitter.client import ErrorKind, XClient, XError, rate_limit_wait
from hashcart_twitter.ingest import choose_command
from hashcart_twitter.normalize import Rules, Trigger, trigger_from_v1, trigger_from_v2
from hashcart_twitter.platform import TwitterPlatform
from hashcart_twitter.replies import MAX_WEIGHT, fit, public_text, variant, weight
from hashcart_twitter.settings import Mode, TwitterSettings
from hashcart_twitter.stream import Backoff
from hashcart_twitter.testing import (
    XStandin,
    long_tweet,
    quote_tweet,
    retweet,
    stream_message,
    tweet,
    user,
)

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"
ALICE = user("alice", "6253282")
BOB = user("bob", "783214")
BOT_ID = "2244994945"
RULES = Rules(hashtag="amazoncart", ignores=lambda uid: uid in {BOT_ID, "666"})


# ---------------------------------------------------------------------------------------------
# Reading v1.1 tweets
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["#amazoncart", "#AmazonCart please", "yes #AMAZONCART!"])
def test_the_hashtag_counts_in_any_case(text: str) -> None:
    trigger = trigger_from_v1(tweet(text, user=ALICE, urls=[ECHO]), RULES)
    assert trigger is not None
    assert trigger.links == (ECHO,)
    assert trigger.user_id == ALICE["id_str"] and trigger.screen_name == "alice"


def test_the_hashtag_is_found_in_text_when_entities_are_empty() -> None:
    payload = tweet("#amazoncart", user=ALICE)
    payload["entities"]["hashtags"] = []
    assert trigger_from_v1(payload, RULES) is not None


@pytest.mark.parametrize(
    "payload",
    [
        tweet("#amazoncart", user=user("hashcart", BOT_ID), urls=[ECHO]),
        tweet("#amazoncart", user=user("someone", "666"), urls=[ECHO]),
        retweet(tweet("#amazoncart", user=BOB, urls=[ECHO]), user=ALICE),
        tweet("no tag here", user=ALICE, urls=[ECHO]),
        tweet("#amazoncarts", user=ALICE, urls=[ECHO]),
    ],
    ids=["own", "ignored", "retweet", "untagged", "other-tag"],
)
def test_tweets_that_are_not_commands(payload: dict[str, object]) -> None:
    assert trigger_from_v1(payload, RULES) is None


def test_a_reply_points_at_its_parent_and_a_quote_carries_its_links() -> None:
    parent = tweet("look", user=BOB, urls=[ECHO])
    reply = trigger_from_v1(tweet("#amazoncart", user=ALICE, in_reply_to=parent), RULES)
    assert reply is not None
    assert reply.parent_id == parent["id_str"] and reply.links == ()
    quote = trigger_from_v1(quote_tweet("#amazoncart", user=ALICE, quoted=parent), RULES)
    assert quote is not None
    assert quote.quoted_id == parent["id_str"] and quote.quoted_links == (ECHO,)
    bare = trigger_from_v1(
        quote_tweet("#amazoncart", user=ALICE, quoted=parent, embed=False), RULES
    )
    assert bare is not None and bare.quoted_links is None  # to be looked up


def test_links_to_other_tweets_and_tco_wrappers_are_not_candidates() -> None:
    payload = tweet("#amazoncart", user=ALICE, urls=["https://twitter.com/bob/status/1", ECHO])
    payload["entities"]["urls"].append({"url": "https://t.co/x", "indices": [0, 1]})
    trigger = trigger_from_v1(payload, RULES)
    assert trigger is not None and trigger.links == (ECHO,)


def test_a_long_post_is_read_from_extended_tweet() -> None:
    payload = long_tweet("word " * 40 + "#amazoncart", user=ALICE, urls=[ECHO])
    trigger = trigger_from_v1(payload, RULES)
    assert trigger is not None and trigger.links == (ECHO,)


def test_protected_user_and_language_shape_the_reply_target() -> None:
    carol = user("carol", "5120691", protected=True)
    trigger = trigger_from_v1(tweet("#amazoncart", user=carol, urls=[ECHO], lang="de"), RULES)
    assert trigger is not None
    command = trigger.command(ECHO)
    assert command.action is Action.ADD and command.event_id == trigger.tweet_id
    assert command.reply_to.private is True
    assert command.reply_to.channel == trigger.tweet_id
    assert command.reply_to.extra["screen_name"] == "carol"
    assert command.locale == "de"
    undefined = trigger_from_v1(tweet("#amazoncart", user=carol, lang="und"), RULES)
    assert undefined is not None and undefined.locale is None


def test_protected_given_as_a_string_is_understood() -> None:
    payload = tweet("#amazoncart", user={**ALICE, "protected": "true"}, urls=[ECHO])
    trigger = trigger_from_v1(payload, RULES)
    assert trigger is not None and trigger.protected


@pytest.mark.parametrize(
    "payload",
    [{"user": ALICE}, {"id_str": "12", "user": "alice"}, {"id_str": "x1", "user": ALICE}],
)
def test_unreadable_tweets_raise_value_error(payload: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        trigger_from_v1(payload, RULES)


# ---------------------------------------------------------------------------------------------
# Reading v2 (stream) objects
# ---------------------------------------------------------------------------------------------


def test_a_stream_message_with_its_parent_included_needs_no_lookup() -> None:
    parent = tweet("look", user=BOB, urls=[ECHO])
    reply = tweet("#AmazonCart", user=ALICE, in_reply_to=parent)
    message = stream_message(reply, known={parent["id_str"]: parent})
    trigger = trigger_from_v2(message, RULES)
    assert trigger is not None
    assert trigger.parent_links == (ECHO,) and trigger.screen_name == "alice"


def test_v2_retweets_and_ignored_authors_are_not_commands() -> None:
    original = tweet("#amazoncart", user=BOB, urls=[ECHO])
    assert trigger_from_v2(stream_message(retweet(original, user=ALICE)), RULES) is None
    own = tweet("#amazoncart", user=user("hashcart", BOT_ID), urls=[ECHO])
    assert trigger_from_v2(stream_message(own), RULES) is None


def test_v2_without_data_raises() -> None:
    with pytest.raises(ValueError):
        trigger_from_v2({"errors": [{"title": "operational-disconnect"}]}, RULES)


# ---------------------------------------------------------------------------------------------
# Choosing the link
# ---------------------------------------------------------------------------------------------


def _trigger(**links: object) -> Trigger:
    base: dict[str, object] = {
        "tweet_id": "1",
        "user_id": "2",
        "screen_name": "alice",
        "protected": False,
        "locale": None,
        "links": (),
    }
    base.update(links)
    return Trigger(**base)  # type: ignore[arg-type]


async def _resolve(url: str) -> ProductRef | None:
    return ProductRef("amazon", url.rsplit("/", 1)[-1]) if "amazon" in url else None


async def test_the_first_product_in_reach_wins_and_lookups_happen_only_when_needed() -> None:
    looked_up: list[str] = []

    async def lookup(tweet_id: str) -> tuple[tuple[str, ...], bool]:
        looked_up.append(tweet_id)
        return ("https://amazon.com/dp/PARENT",), True

    own = _trigger(links=("https://amazon.com/dp/OWN",), parent_id="9")
    command = await choose_command(own, _resolve, lookup)
    assert command is not None and command.product == ProductRef("amazon", "OWN")
    assert looked_up == []

    blog = _trigger(links=("https://blog.example/x",), parent_id="9")
    command = await choose_command(blog, _resolve, lookup)
    assert command is not None and command.product == ProductRef("amazon", "PARENT")
    assert looked_up == ["9"]


async def test_no_product_means_the_first_link_and_no_link_means_nothing() -> None:
    async def lookup(tweet_id: str) -> tuple[tuple[str, ...], bool]:
        return (), True

    blog = _trigger(links=("https://blog.example/x",), parent_id="9")
    command = await choose_command(blog, _resolve, lookup)
    assert command is not None and command.product is None
    assert command.reference == "https://blog.example/x"
    assert await choose_command(_trigger(parent_id="9"), _resolve, lookup) is None


# ---------------------------------------------------------------------------------------------
# Reply text
# ---------------------------------------------------------------------------------------------


def test_long_answers_are_fitted_without_cutting_the_link() -> None:
    link = "http://127.0.0.1:8080/link/" + "t" * 60
    text = "Added " + "Very Long Product Title " * 20 + "to your cart — " + link
    fitted = public_text(text, "alice")
    assert weight(fitted) <= MAX_WEIGHT
    assert fitted.startswith("@alice Added ") and fitted.endswith(link)
    assert fit("short") == "short"


def test_variations_differ_for_every_retry() -> None:
    markers = [variant(seed=7, n=n) for n in range(1, 30)]
    assert len(set(markers)) == len(markers)
    assert public_text("Hi", "bob", seed=7, variation=1) != public_text("Hi", "bob", seed=7)


# ---------------------------------------------------------------------------------------------
# Settings, backoff, rate limits
# ---------------------------------------------------------------------------------------------


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASHCART_TWITTER_IGNORED_USER_IDS", " 1, 2 ,,3")
    monkeypatch.setenv("HASHCART_TWITTER_MODE", "stream")
    monkeypatch.setenv("HASHCART_TWITTER_BEARER_TOKEN", "b")
    monkeypatch.setenv("HASHCART_TWITTER_API_URL", "http://127.0.0.1:9/")
    settings = TwitterSettings()
    assert settings.ignored_user_ids == {"1", "2", "3"}
    assert settings.mode is Mode.STREAM and settings.api_url == "http://127.0.0.1:9"
    assert not settings.enabled
    assert settings.ignores("2") and not settings.ignores("4")


def test_backoff_follows_xs_documented_schedule() -> None:
    backoff = Backoff()
    assert [backoff.delay("network", n) for n in (1, 2, 64, 100)] == [0.25, 0.5, 16.0, 16.0]
    assert [backoff.delay("http", n) for n in (1, 2, 3, 7, 8)] == [5, 10, 20, 320, 320]
    assert [backoff.delay("rate", n) for n in (1, 2)] == [60, 120]
    assert Backoff(scale=0.01).delay("http", 1) == pytest.approx(0.05)


def test_rate_limit_wait_honours_the_reset_header() -> None:
    assert rate_limit_wait("1000", now=990.0) == 10.0
    assert rate_limit_wait("1000", now=1005.0) == 1.0
    assert rate_limit_wait(None) == 60.0


# ---------------------------------------------------------------------------------------------
# The stand-in checks signatures the way X does
# ---------------------------------------------------------------------------------------------


def _settings(x: XStandin, **override: str) -> TwitterSettings:
    values = {k.removeprefix("HASHCART_TWITTER_").lower(): v for k, v in x.env().items()}
    return TwitterSettings(**{**values, **override})


async def test_the_stand_in_refuses_a_wrong_oauth_signature() -> None:
    async with XStandin() as x:
        good = XClient(_settings(x), aiohttp.ClientTimeout(total=5))
        bad = XClient(_settings(x, access_token_secret="wrong"), aiohttp.ClientTimeout(total=5))
        try:
            assert (await good.me())["username"] == "hashcart"
            with pytest.raises(XError) as refused:
                await bad.me()
            assert refused.value.kind is ErrorKind.REFUSED and refused.value.status == 401
        finally:
            await good.close()
            await bad.close()


async def test_doctor_reports_configuration_and_api() -> None:
    async with XStandin() as x:
        client = XClient(_settings(x, mode="stream"), aiohttp.ClientTimeout(total=5))
        try:
            rows = await doctor_rows(_settings(x, mode="stream"), client, "amazoncart")
        finally:
            await client.close()
        assert all(passed for _, passed, _ in rows), rows
        assert any("@hashcart" in detail for _, _, detail in rows)
        empty = TwitterSettings(api_url=x.url)
        rows = await doctor_rows(empty, XClient(empty, aiohttp.ClientTimeout(total=5)), "x")
        assert rows == [
            (
                "twitter: configuration",
                False,
                "missing HASHCART_TWITTER_CONSUMER_KEY, HASHCART_TWITTER_CONSUMER_SECRET, "
                "HASHCART_TWITTER_ACCESS_TOKEN, HASHCART_TWITTER_ACCESS_TOKEN_SECRET",
            )
        ]


# ---------------------------------------------------------------------------------------------
# Sending answers: a post that went through although the client gave up is not posted twice
# ---------------------------------------------------------------------------------------------


def _platform(x: XStandin, timeout: float) -> TwitterPlatform:
    async def resolve(url: str) -> None:
        return None

    hashcart = SimpleNamespace(
        http_timeout=aiohttp.ClientTimeout(total=timeout),
        settings=SimpleNamespace(hashtag="amazoncart"),
        resolve_reference=resolve,
        submit=None,
        count_platform_error=lambda platform, kind: None,
    )
    return TwitterPlatform(hashcart, _settings(x))


def _reply(target_tweet: str, attempt: int, *, private: bool = False) -> OutgoingReply:
    return OutgoingReply(
        reply_id=41,
        event_key=f"twitter:{target_tweet}",
        target=ReplyTarget(
            "twitter", ALICE["id_str"], target_tweet, private, {"screen_name": "alice"}
        ),
        content=ReplyContent("Added Echo Dot to your cart"),
        outcome=Outcome(OutcomeCode.ADDED),
        attempt=attempt,
    )


async def test_a_timed_out_post_that_went_through_is_not_posted_again() -> None:
    async with XStandin() as x:
        target = x.add_tweet(tweet("#amazoncart", user=ALICE, urls=[ECHO]))["id_str"]
        platform = _platform(x, timeout=0.2)
        x.answer_late(1.0, path="/2/tweets")
        try:
            with pytest.raises(RetryLater):
                await platform.send_reply(_reply(target, 1))
            await platform.send_reply(_reply(target, 2))  # X: duplicate; it is the same post
        finally:
            await platform.stop()
        assert [p.text for p in x.replies_to(target)] == ["@alice Added Echo Dot to your cart"]


async def test_a_duplicate_refusal_is_retried_reworded_and_other_refusals_are_final() -> None:
    async with XStandin() as x:
        target = x.add_tweet(tweet("#amazoncart", user=ALICE, urls=[ECHO]))["id_str"]
        platform = _platform(x, timeout=5)
        try:
            await platform.send_reply(_reply(target, 1))
            with pytest.raises(RetryLater) as duplicate:
                await platform.send_reply(_reply(target, 1))
            assert duplicate.value.retry_after == 0
            await platform.send_reply(_reply(target, 2))
            texts = [p.text for p in x.replies_to(target)]
            assert len(texts) == 2 and texts[0] != texts[1]
            with pytest.raises(SendRefused):
                await platform.send_reply(_reply("999", 1))  # replying to a tweet X doesn't know
            x.fail_next(1, status=429, reset_in=30)
            with pytest.raises(RetryLater) as limited:
                await platform.send_reply(_reply(target, 3, private=True))
            assert 25 <= limited.value.retry_after <= 31
            await platform.send_reply(_reply(target, 4, private=True))
            assert len(x.dms_to(ALICE)) == 1
        finally:
            await platform.stop()


async def test_a_duplicate_refusal_seen_on_one_node_is_reworded_by_the_node_that_retries() -> None:
    """The soak's lost answer: node B, retrying what X refused on node A as a duplicate, must
    post the next wording (named in the recorded error), not take the reply for posted."""
    async with XStandin() as x:
        target = x.add_tweet(tweet("#amazoncart", user=ALICE, urls=[ECHO]))["id_str"]
        node_a, node_b = _platform(x, timeout=5), _platform(x, timeout=5)
        try:
            await node_a.send_reply(_reply(target, 1))  # an earlier answer with the same words
            with pytest.raises(RetryLater) as duplicate:
                await node_a.send_reply(_reply(target, 1))
            retry = replace(_reply(target, 2), last_error=duplicate.value.reason)
            await node_b.send_reply(retry)
            texts = [p.text for p in x.replies_to(target)]
            assert len(texts) == 2 and texts[0] != texts[1]
            postponed = replace(
                _reply(target, 2),
                last_error=f"waiting for an earlier reply: {duplicate.value.reason}",
            )
            await node_b.send_reply(postponed)  # another reply's wording: the first is posted
            assert len(x.replies_to(target)) == 2
        finally:
            await node_a.stop()
            await node_b.stop()


def test_stream_mode_without_a_bearer_token_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="bearer_token"):
        TwitterSettings(
            consumer_key="k",
            consumer_secret="s",
            access_token="t",
            access_token_secret="ts",
            mode="stream",
        )


# ---------------------------------------------------------------------------------------------
# Products from tweets not everyone may read
# ---------------------------------------------------------------------------------------------


def test_a_referenced_tweet_is_public_only_when_its_author_is_known_and_not_protected() -> None:
    carol = user("carol", "5120691", protected=True)
    public_parent = tweet("look", user=BOB, urls=[ECHO])
    private_parent = tweet("look", user=carol, urls=[ECHO])
    for parent, public in ((public_parent, True), (private_parent, False)):
        reply = tweet("#amazoncart", user=ALICE, in_reply_to=parent)
        trigger = trigger_from_v2(stream_message(reply, known={parent["id_str"]: parent}), RULES)
        assert trigger is not None and trigger.parent_links == (ECHO,)
        assert trigger.parent_public is public
        quote = trigger_from_v1(quote_tweet("#amazoncart", user=ALICE, quoted=parent), RULES)
        assert quote is not None and quote.quoted_public is public
    # Without the referenced_tweets.id.author_id expansion nobody can tell: private.
    reply = tweet("#amazoncart", user=ALICE, in_reply_to=public_parent)
    bare = stream_message(
        reply,
        known={public_parent["id_str"]: public_parent},
        expansions={"author_id", "referenced_tweets.id"},
    )
    trigger = trigger_from_v2(bare, RULES)
    assert trigger is not None and trigger.parent_links == (ECHO,)
    assert trigger.parent_public is False


async def test_an_answer_naming_a_link_from_a_private_tweet_is_private() -> None:
    async def lookup(tweet_id: str) -> tuple[tuple[str, ...], bool]:
        links = {"9": ("https://amazon.com/dp/HIDDEN",), "8": ("https://blog.example/x",)}
        return links[tweet_id], False

    product = await choose_command(_trigger(parent_id="9"), _resolve, lookup)
    assert product is not None and product.product == ProductRef("amazon", "HIDDEN")
    assert product.reply_to.private is True
    not_a_product = await choose_command(_trigger(parent_id="8"), _resolve, lookup)
    assert not_a_product is not None and not_a_product.reference == "https://blog.example/x"
    assert not_a_product.reply_to.private is True
    own = _trigger(links=("https://amazon.com/dp/OWN",), parent_id="9")
    command = await choose_command(own, _resolve, lookup)
    assert command is not None and command.reply_to.private is False


@pytest.mark.parametrize("minutes", [-1, 6])
def test_a_backfill_outside_what_x_takes_is_a_configuration_error(minutes: int) -> None:
    with pytest.raises(ValueError, match="stream_backfill_minutes"):
        TwitterSettings(stream_backfill_minutes=minutes)
    assert TwitterSettings().stream_backfill_minutes == 5
