"""A local X for tests, the playground and plugin authors: `XStandin` and what X sends."""

from __future__ import annotations

from hashcart import hookimpl
from hashcart_twitter.testing.payloads import (
    BOT_SCREEN_NAME,
    BOT_USER_ID,
    SIGNATURE_HEADER,
    crc_response,
    delivery,
    direct_message,
    dm_delivery,
    long_tweet,
    new_tweet_id,
    quote_tweet,
    retweet,
    sign_delivery,
    stream_message,
    to_v2,
    tweet,
    user,
)
from hashcart_twitter.testing.standin import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_ACCESS_TOKEN_SECRET,
    DEFAULT_BEARER_TOKEN,
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_OAUTH2_CLIENT_ID,
    DEFAULT_OAUTH2_CLIENT_SECRET,
    ApiCall,
    Delivery,
    PostedDM,
    PostedTweet,
    XStandin,
)


@hookimpl
def hashcart_standins() -> XStandin:
    return XStandin()


__all__ = [
    "BOT_SCREEN_NAME",
    "BOT_USER_ID",
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_ACCESS_TOKEN_SECRET",
    "DEFAULT_BEARER_TOKEN",
    "DEFAULT_CONSUMER_KEY",
    "DEFAULT_CONSUMER_SECRET",
    "DEFAULT_OAUTH2_CLIENT_ID",
    "DEFAULT_OAUTH2_CLIENT_SECRET",
    "SIGNATURE_HEADER",
    "ApiCall",
    "Delivery",
    "PostedDM",
    "PostedTweet",
    "XStandin",
    "crc_response",
    "delivery",
    "direct_message",
    "dm_delivery",
    "long_tweet",
    "new_tweet_id",
    "quote_tweet",
    "retweet",
    "sign_delivery",
    "stream_message",
    "to_v2",
    "tweet",
    "user",
]
