"""X/Twitter for hashcart: a reply holding `#amazoncart` puts the product in reach into a cart.

Tweets arrive through the Account Activity webhook (`/twitter/webhook`) or, without webhooks,
the v2 filtered stream (`HASHCART_TWITTER_MODE=stream`). The bot answers with a reply tweet, or
a DM when the answer must be private.
"""

from __future__ import annotations

from aiohttp import web

from hashcart import (
    CartCommand,
    Host,
    Outcome,
    Platform,
    ReplyContent,
    SignInProvider,
    for_platform,
    hookimpl,
)
from hashcart_twitter.client import XClient, XError
from hashcart_twitter.normalize import PLATFORM
from hashcart_twitter.platform import TwitterPlatform
from hashcart_twitter.settings import USER_CONTEXT, Mode, TwitterSettings
from hashcart_twitter.signin import signin_provider
from hashcart_twitter.stream import rule_value
from hashcart_twitter.wording import format_reply

__all__ = ["TwitterPlatform", "TwitterSettings", "doctor_rows"]


@hookimpl
def hashcart_settings() -> type[TwitterSettings]:
    return TwitterSettings


@hookimpl
def hashcart_platform(hashcart: Host) -> Platform | None:
    settings = hashcart.settings_for(TwitterSettings)
    return TwitterPlatform(hashcart, settings) if settings.enabled else None


@hookimpl
def hashcart_web_routes(
    hashcart: Host, app: web.Application, platform: TwitterPlatform | None
) -> None:
    settings = hashcart.settings_for(TwitterSettings)
    # A node reading the stream has no webhook: nothing signs or accepts deliveries there.
    if settings.mode is Mode.WEBHOOK:
        # Without the reply credentials there is no platform, but deliveries are still taken.
        (platform or TwitterPlatform(hashcart, settings)).receiver.add_routes(app)


@hookimpl
def hashcart_signin_provider(hashcart: Host) -> SignInProvider | None:
    return signin_provider(hashcart.settings_for(TwitterSettings))


@hookimpl
@for_platform(PLATFORM)
def hashcart_format_reply(
    command: CartCommand, outcome: Outcome, locale: str, hashcart: Host
) -> ReplyContent | None:
    settings = hashcart.settings_for(TwitterSettings)
    return format_reply(command, outcome, locale, hashcart, settings.bot_screen_name)


@hookimpl
async def hashcart_doctor(hashcart: Host) -> list[tuple[str, bool, str]]:
    settings = hashcart.settings_for(TwitterSettings)
    client = XClient(settings, hashcart.http_timeout)
    try:
        return await doctor_rows(settings, client, hashcart.settings.hashtag)
    finally:
        await client.close()


async def doctor_rows(
    settings: TwitterSettings, client: XClient, hashtag: str
) -> list[tuple[str, bool, str]]:
    """Configuration first; the API is only asked when there is something to sign with."""
    missing = [
        f"HASHCART_TWITTER_{name.upper()}" for name in USER_CONTEXT if not getattr(settings, name)
    ]
    detail = "complete" if not missing else "missing " + ", ".join(missing)
    rows: list[tuple[str, bool, str]] = [("twitter: configuration", not missing, detail)]
    if missing:
        return rows
    try:
        me = await client.me()
        rows.append(("twitter: API (user context)", True, f"signed in as @{me.get('username')}"))
        if settings.bot_user_id and str(me.get("id")) != settings.bot_user_id:
            detail = f"the credentials are user {me.get('id')}, not {settings.bot_user_id}"
            rows.append(("twitter: bot user id", False, detail))
    except XError as exc:
        rows.append(("twitter: API (user context)", False, exc.reason))
    if not settings.bot_user_id:
        detail = "set HASHCART_TWITTER_BOT_USER_ID (#checkout and #confirm need it)"
        rows.append(("twitter: bot user id", False, detail))
    if settings.mode is Mode.STREAM:
        try:
            rules = await client.stream_rules()
            present = any(rule.get("value") == rule_value(hashtag) for rule in rules)
            rows.append(("twitter: stream rule", True, "present" if present else "added at start"))
        except XError as exc:
            rows.append(("twitter: stream (bearer token)", False, exc.reason))
    return rows
