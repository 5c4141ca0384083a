"""A local Slack for tests and the playground: `SlackStandin` and what Slack sends."""

from __future__ import annotations

from hashcart import hookimpl
from hashcart_slack.testing.base import ResponsePost as ResponsePost
from hashcart_slack.testing.payloads import app_uninstalled_event as app_uninstalled_event
from hashcart_slack.testing.payloads import direct_message_event as direct_message_event
from hashcart_slack.testing.payloads import event_callback as event_callback
from hashcart_slack.testing.payloads import message_event as message_event
from hashcart_slack.testing.payloads import new_event_id as new_event_id
from hashcart_slack.testing.payloads import reaction_event as reaction_event
from hashcart_slack.testing.payloads import sign as sign
from hashcart_slack.testing.payloads import signed_headers as signed_headers
from hashcart_slack.testing.payloads import slash_command_form as slash_command_form
from hashcart_slack.testing.payloads import tokens_revoked_event as tokens_revoked_event
from hashcart_slack.testing.payloads import url_verification as url_verification
from hashcart_slack.testing.standin import SlackStandin as SlackStandin


@hookimpl
def hashcart_standins() -> SlackStandin:
    return SlackStandin()
