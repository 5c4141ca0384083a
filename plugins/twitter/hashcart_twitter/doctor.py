"""`hashcart doctor` rows for X: is the configuration complete, and does X accept it."""

from __future__ import annotations

from hashcart_twitter.client import XClient, XError
from hashcart_twitter.settings import Mode, TwitterSettings
from hashcart_twitter.stream import rule_value


async def doctor_rows(
    settings: TwitterSettings, client: XClient, hashtag: str
) -> list[tuple[str, bool, str]]:
    """Configuration first; the API is only asked when there is something to sign with."""
    missing = [
        f"HASHCART_TWITTER_{name.upper()}"
        for name in ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
        if not getattr(settings, name)
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
