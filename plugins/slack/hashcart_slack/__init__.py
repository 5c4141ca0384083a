"""Slack for hashcart: `/cart` slash commands, `#amazoncart` channel messages and 🛒 reactions.

Everything Slack-specific stays here; the core sees only `CartCommand`s. Requests reach a Bolt
app mounted at `POST /slack/events` (plus `/slack/install` and `/slack/oauth_redirect` when
workspaces install the app through OAuth); answers leave through `SlackPlatform.send_reply`.
"""

from __future__ import annotations

from aiohttp import web
from pydantic_settings import BaseSettings

from hashcart import (
    CartCommand,
    Host,
    Outcome,
    ReplyContent,
    SignInProvider,
    for_platform,
    hookimpl,
)
from hashcart_slack import blocks, doctor
from hashcart_slack.bolt import INSTALL_PATH, REDIRECT_PATH
from hashcart_slack.platform import SlackPlatform
from hashcart_slack.settings import SlackSettings
from hashcart_slack.signin import signin_provider


@hookimpl
def hashcart_settings() -> type[BaseSettings]:
    return SlackSettings


@hookimpl
def hashcart_platform(hashcart: Host) -> SlackPlatform | None:
    settings = hashcart.settings_for(SlackSettings)
    return SlackPlatform(hashcart, settings) if settings.enabled else None


@hookimpl
def hashcart_web_routes(app: web.Application, platform: SlackPlatform | None) -> None:
    if platform is None:
        return
    app.router.add_post("/slack/events", platform.handle)
    if platform.settings.oauth:
        app.router.add_get(INSTALL_PATH, platform.handle_install)
        app.router.add_get(REDIRECT_PATH, platform.handle_oauth_redirect)


@hookimpl
def hashcart_signin_provider(hashcart: Host) -> SignInProvider | None:
    return signin_provider(hashcart.settings_for(SlackSettings))


@hookimpl
@for_platform("slack")
def hashcart_format_reply(
    command: CartCommand, outcome: Outcome, locale: str, hashcart: Host
) -> ReplyContent | None:
    return blocks.format_reply(command, outcome, locale, hashcart)


@hookimpl
async def hashcart_doctor(hashcart: Host) -> list[tuple[str, bool, str]]:
    return await doctor.checks(hashcart, hashcart.settings_for(SlackSettings))
