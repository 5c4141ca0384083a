"""A local Slack for tests and the playground: `SlackStandin` and what Slack sends."""

from __future__ import annotations

from hashcart import hookimpl
from hashcart_slack.testing.base import (
    DEFAULT_BOT_TOKEN,
    DEFAULT_SIGNING_SECRET,
    RESPONSE_URL_TTL,
    RESPONSE_URL_USES,
)
from hashcart_slack.testing.payloads import (
    app_uninstalled_event,
    direct_message_event,
    event_callback,
    message_event,
    new_event_id,
    new_trigger_id,
    new_ts,
    reaction_event,
    sign,
    signed_headers,
    slash_command_form,
    tokens_revoked_event,
    url_verification,
)
from hashcart_slack.testing.standin import (
    ApiCall,
    Delivery,
    ResponsePost,
    SlackStandin,
)


@hookimpl
def hashcart_standins() -> SlackStandin:
    return SlackStandin()


__all__ = [
    "DEFAULT_BOT_TOKEN",
    "DEFAULT_SIGNING_SECRET",
    "RESPONSE_URL_TTL",
    "RESPONSE_URL_USES",
    "ApiCall",
    "Delivery",
    "ResponsePost",
    "SlackStandin",
    "app_uninstalled_event",
    "direct_message_event",
    "event_callback",
    "message_event",
    "new_event_id",
    "new_trigger_id",
    "new_ts",
    "reaction_event",
    "sign",
    "signed_headers",
    "slash_command_form",
    "tokens_revoked_event",
    "url_verification",
]
