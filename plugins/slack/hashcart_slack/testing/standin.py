"""A local Slack: the Web API, `response_url` endpoints, and signed deliveries to an app.

Tests, the playground and plugin authors use it instead of slack.com. It speaks Slack's wire format
(docs/wire-formats.md) closely enough that the real `slack_sdk` client and Bolt app accept it:
JSON bodies with `{"ok": ...}`, 429 with an integer `Retry-After`, v0 request signatures.

    async with SlackStandin() as slack:
        settings = {"HASHCART_SLACK_API_URL": slack.api_url, ...}
        delivery = await slack.slash_command(f"{app_url}/slack/events", "add <https://...>")
        await eventually(lambda: slack.responses_to(delivery.response_url))
"""

from __future__ import annotations

from aiohttp import web

from hashcart_slack.testing.api import _WebApi
from hashcart_slack.testing.base import ApiCall, Delivery, ResponsePost
from hashcart_slack.testing.payloads import (
    message_event,
    new_event_id,
    new_trigger_id,
)

__all__ = ["ApiCall", "Delivery", "ResponsePost", "SlackStandin"]


class SlackStandin(_WebApi):
    """A Slack workspace on 127.0.0.1: Web API at `api_url`, response URLs, signed deliveries.

    Faults are injected per Web API method (or `"response_url"`) with `fail(...)` and are used up
    one call at a time, so a test can check that a 429 is retried and that the retry succeeds.

    `start()` serves it on a port of its own. To mount `app` inside another server instead (the
    playground does), set `url` to the base URL it is reachable at, so `api_url` and new
    response URLs point there.
    """

    platform = "slack"
    #: The payload builders, for code that gets the stand-in through `hashcart_standins`.
    new_trigger_id = staticmethod(new_trigger_id)
    new_event_id = staticmethod(new_event_id)
    message_event = staticmethod(message_event)

    def make_app(self) -> web.Application:
        """The aiohttp application; mount it elsewhere (the playground does) or `start()` it."""
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{token:.+}", self._response_url)
        app.router.add_get("/openid/connect/authorize", self.openid.authorize)
        return app
