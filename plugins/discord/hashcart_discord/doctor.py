"""`hashcart doctor` for Discord: is the token good, and can the bot read the messages it is
asked about?"""

from __future__ import annotations

import aiohttp

from hashcart_discord.gateway import needed_intents
from hashcart_discord.settings import DiscordSettings

#: Application flags: Message Content intent granted (verified apps) or limited (< 100 guilds).
MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)

Check = tuple[str, bool, str]


async def run_checks(settings: DiscordSettings, http_timeout: aiohttp.ClientTimeout) -> list[Check]:
    if not settings.enabled or settings.token is None:
        return [("discord: configured", False, "HASHCART_DISCORD_TOKEN is not set")]
    plan = settings.shard_plan
    shards = (
        f"shards {','.join(map(str, plan.shard_ids))} of {plan.shard_count}"
        if plan is not None
        else "all shards (count from Discord)"
    )
    intents = ", ".join(name for name, on in needed_intents() if on)
    checks: list[Check] = [
        ("discord: configured", True, f"{settings.api_url}, {shards}, emoji {settings.emoji}"),
        ("discord: gateway intents", True, f"{intents} (none privileged)"),
    ]
    headers = {"Authorization": f"Bot {settings.token.get_secret_value().strip()}"}
    try:
        async with aiohttp.ClientSession(timeout=http_timeout, headers=headers) as session:
            async with session.get(f"{settings.api_url}/users/@me") as response:
                me = await response.json(content_type=None) if response.status == 200 else None
                status = response.status
            if me is None:
                detail = "Discord refused the token" if status == 401 else f"HTTP {status}"
                return [*checks, ("discord: token accepted", False, detail)]
            checks.append(("discord: token accepted", True, f"bot {me.get('username')}"))
            async with session.get(f"{settings.api_url}/oauth2/applications/@me") as response:
                app = await response.json(content_type=None) if response.status == 200 else {}
    except (TimeoutError, aiohttp.ClientError) as exc:
        return [*checks, ("discord: API answering", False, f"{type(exc).__name__}: {exc}")]
    granted = bool(int(app.get("flags") or 0) & MESSAGE_CONTENT_FLAGS)
    detail = (
        "enabled: fetched messages carry their links"
        if granted
        else "switch on 'Message Content Intent' in the Developer Portal (privileged): without "
        "it Discord hides the text of messages that do not mention the bot"
    )
    checks.append(("discord: message content intent", granted, detail))
    return checks
