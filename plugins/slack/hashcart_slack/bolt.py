"""The Bolt `AsyncApp` behind `/slack/events`, configured for hashcart.

`process_before_response=True` makes Bolt return as soon as a listener returns instead of polling
for `ack()` every 10 ms; our listeners record a command before they acknowledge it, within a
budget well inside Slack's 3 seconds. Replies do not go through Bolt's `respond()` but
through hashcart's outbox, so they survive restarts and honour Slack's rate limits.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings

from hashcart_slack.listeners import Listeners
from hashcart_slack.oauth import KvStateStore
from hashcart_slack.settings import BOT_SCOPES

if TYPE_CHECKING:
    from hashcart_slack.platform import SlackPlatform

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


def build_app(platform: SlackPlatform) -> AsyncApp:
    settings = platform.settings
    assert settings.signing_secret is not None
    oauth_settings: AsyncOAuthSettings | None = None
    authorize: Any = None  # Bolt types the parameter as a callable; an AsyncAuthorize is one
    store = platform.installations
    if store is not None and settings.client_secret is not None:
        oauth_settings = AsyncOAuthSettings(
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            scopes=list(BOT_SCOPES),
            redirect_uri=f"{platform.hashcart.settings.public_url}{REDIRECT_PATH}",
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            installation_store=store,
            state_store=KvStateStore(platform.hashcart.kv),
        )
        # Bolt's default calls auth.test on every request; the answer per token does not change.
        authorize = AsyncInstallationStoreAuthorize(
            installation_store=store,
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            cache_enabled=True,
            client=platform.client,
            logger=logging.getLogger("hashcart_slack.bolt"),
        )
    app = AsyncApp(
        name="hashcart",
        signing_secret=settings.signing_secret.get_secret_value(),
        client=platform.client,
        oauth_settings=oauth_settings,
        authorize=authorize,
        process_before_response=True,
        logger=logging.getLogger("hashcart_slack.bolt"),
    )
    listeners = Listeners(platform)
    if store is not None and settings.client_secret is not None:
        # Bolt's own: `app_uninstalled` deletes the workspace, `tokens_revoked` its bot token.
        app.enable_token_revocation_listeners()
    else:
        app.event("app_uninstalled")(listeners.on_uninstalled)
        app.event("tokens_revoked")(listeners.on_tokens_revoked)
    app.command(settings.command)(listeners.on_command)
    app.event("message")(listeners.on_message)
    app.event("reaction_added")(listeners.on_reaction)
    app.event("reaction_removed")(listeners.on_reaction)
    # Slack reports clicks on link buttons too; acknowledging them keeps the warning icon away.
    app.action("view_cart")(listeners.on_link_button)
    app.action("link")(listeners.on_link_button)
    return app
