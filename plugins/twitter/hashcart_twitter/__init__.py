"""X/Twitter for hashcart: a reply holding `#amazoncart` puts the product in reach into a cart.

Tweets arrive through the Account Activity webhook (`/twitter/webhook`) or, without webhooks,
the v2 filtered stream (`HASHCART_TWITTER_MODE=stream`). The bot answers with a reply tweet, or
a DM when the answer must be private.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from hashcart import Platform, hookimpl

from hashcart_twitter.client import XError
from hashcart_twitter.platform import TwitterPlatform, platform_for
from hashcart_twitter.settings import Mode, TwitterSettings
from hashcart_twitter.stream import rule_value

__all__ = ["TwitterPlatform", "TwitterSettings"]


@hookimpl
def hashcart_settings() -> type[TwitterSettings]:
    return TwitterSettings


@hookimpl
def hashcart_platform(hashcart: Any) -> Platform | None:
    platform = platform_for(hashcart)
    return platform if platform.settings.enabled else None


@hookimpl
def hashcart_web_routes(hashcart: Any, app: web.Application) -> None:
    platform_for(hashcart).receiver.add_routes(app)


@hookimpl
async def hashcart_doctor(hashcart: Any) -> list[tuple[str, bool, str]]:
    platform = platform_for(hashcart)
    settings = platform.settings
    missing = [
        f"HASHCART_TWITTER_{name.upper()}"
        for name in ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
        if not getattr(settings, name)
    ]
    rows: list[tuple[str, bool, str]] = [
        (
            "twitter: configuration",
            not missing,
            "complete" if not missing else "missing " + ", ".join(missing),
        )
    ]
    if missing:
        return rows
    if not settings.bot_user_id:
        rows.append(("twitter: bot user id", False, "set HASHCART_TWITTER_BOT_USER_ID"))
    try:
        me = await platform.client.me()
        rows.append(("twitter: API (user context)", True, f"signed in as @{me.get('username')}"))
        if settings.bot_user_id and str(me.get("id")) != settings.bot_user_id:
            rows.append(
                ("twitter: bot user id", False, f"credentials belong to user {me.get('id')}")
            )
    except XError as exc:
        rows.append(("twitter: API (user context)", False, exc.reason))
    if settings.mode is Mode.STREAM:
        try:
            rules = await platform.client.stream_rules()
            wanted = rule_value(hashcart.settings.hashtag)
            present = any(rule.get("value") == wanted for rule in rules)
            rows.append(("twitter: stream rule", True, "present" if present else "added at start"))
        except XError as exc:
            rows.append(("twitter: stream (bearer token)", False, exc.reason))
    await platform.client.close()
    return rows
