"""A local X for tests, the playground and plugin authors: the v2 API the bot calls, the filtered
stream, and signed webhook deliveries.

It follows X's wire format (docs/wire-formats.md): OAuth 1.0a user-context signatures are
verified with oauthlib's own server-side endpoint, the stream speaks newline-delimited JSON with
blank keep-alive lines, errors are Problem JSON, a repeated post is refused with X's 403
"duplicate content", and webhook deliveries are signed exactly as X signs them.

    async with XStandin() as x:
        env = x.env()                               # HASHCART_TWITTER_* pointing here
        product = x.add_tweet(tweet("Look", user=bob, urls=["https://www.amazon.com/dp/B0..."]))
        reply = tweet("#amazoncart", user=alice, in_reply_to=product)
        await x.deliver(f"{app_url}/twitter/webhook", [reply])
        await eventually(lambda: x.replies_to(reply))
"""

from __future__ import annotations

from aiohttp import web

from hashcart import hookimpl
from hashcart_twitter.testing.api import _RestApi
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
from hashcart_twitter.testing.stream import _FilteredStream


class XStandin(_FilteredStream, _RestApi):
    """X on 127.0.0.1: API v2 at `url`, a filtered stream, a webhook sender, and the faults of
    `fail_next`, `fail_for`, `answer_late` and `go_down` / `come_back`."""

    platform = "twitter"
    #: The payload builders, for code that gets the stand-in through `hashcart_standins`.
    user = staticmethod(user)
    tweet = staticmethod(tweet)

    def make_app(self) -> web.Application:
        """The aiohttp application; mount it elsewhere (the playground does) or `start()` it."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/2/tweets/search/stream/rules", self._get_rules)
        app.router.add_post("/2/tweets/search/stream/rules", self._post_rules)
        app.router.add_get("/2/tweets/search/stream", self._stream)
        app.router.add_get("/2/tweets/{id}", self._lookup)
        app.router.add_post("/2/tweets", self._create)
        app.router.add_post("/2/dm_conversations/with/{participant_id}/messages", self._dm)
        app.router.add_get("/2/users/me", self._me)
        app.router.add_get("/i/oauth2/authorize", self.oauth2.authorize)
        app.router.add_post("/2/oauth2/token", self._oauth2_token)
        return app


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
