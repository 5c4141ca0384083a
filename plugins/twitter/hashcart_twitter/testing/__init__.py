"""A local X for tests, the playground and plugin authors: `XStandin` and what X sends."""

from __future__ import annotations

from hashcart import hookimpl
from hashcart_twitter.testing.payloads import (
    BOT_USER_ID,
    SIGNATURE_HEADER,
    crc_response,
    delivery,
    direct_message,
    dm_delivery,
    long_tweet,
    quote_tweet,
    retweet,
    sign_delivery,
    stream_message,
    to_v2,
    tweet,
    user,
)
from hashcart_twitter.testing.records import PostedTweet
from hashcart_twitter.testing.standin import XStandin


@hookimpl
def hashcart_standins() -> XStandin:
    return XStandin()


__all__ = [
    "BOT_USER_ID",
    "SIGNATURE_HEADER",
    "PostedTweet",
    "XStandin",
    "crc_response",
    "delivery",
    "direct_message",
    "dm_delivery",
    "long_tweet",
    "quote_tweet",
    "retweet",
    "sign_delivery",
    "stream_message",
    "to_v2",
    "tweet",
    "user",
]
