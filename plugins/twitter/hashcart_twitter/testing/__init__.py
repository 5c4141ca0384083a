"""A local X for tests, the playground and plugin authors: `XStandin` and what X sends."""

from __future__ import annotations

from hashcart import hookimpl
from hashcart_twitter.testing.payloads import BOT_USER_ID as BOT_USER_ID
from hashcart_twitter.testing.payloads import SIGNATURE_HEADER as SIGNATURE_HEADER
from hashcart_twitter.testing.payloads import crc_response as crc_response
from hashcart_twitter.testing.payloads import delivery as delivery
from hashcart_twitter.testing.payloads import direct_message as direct_message
from hashcart_twitter.testing.payloads import dm_delivery as dm_delivery
from hashcart_twitter.testing.payloads import long_tweet as long_tweet
from hashcart_twitter.testing.payloads import quote_tweet as quote_tweet
from hashcart_twitter.testing.payloads import retweet as retweet
from hashcart_twitter.testing.payloads import sign_delivery as sign_delivery
from hashcart_twitter.testing.payloads import stream_message as stream_message
from hashcart_twitter.testing.payloads import to_v2 as to_v2
from hashcart_twitter.testing.payloads import tweet as tweet
from hashcart_twitter.testing.payloads import user as user
from hashcart_twitter.testing.records import PostedTweet as PostedTweet
from hashcart_twitter.testing.standin import XStandin as XStandin


@hookimpl
def hashcart_standins() -> XStandin:
    return XStandin()
