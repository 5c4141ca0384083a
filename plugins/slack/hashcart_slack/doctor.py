"""`hashcart doctor` for Slack: configuration, the Web API answering, the scopes granted."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from hashcart import Host
from hashcart_slack.settings import BOT_SCOPES, SlackSettings

Check = tuple[str, bool, str]


async def checks(hashcart: Host, settings: SlackSettings) -> list[Check]:
    if not settings.enabled:
        return [("slack: configuration", True, "disabled (HASHCART_SLACK_SIGNING_SECRET not set)")]
    mode = "multi-workspace (OAuth)" if settings.oauth else "single workspace (bot token)"
    rows: list[Check] = [("slack: configuration", True, mode)]
    if settings.oauth or settings.bot_token is None:
        return rows
    timeout = max(1, int(hashcart.http_timeout.total or 10))
    async with aiohttp.ClientSession(timeout=hashcart.http_timeout) as session:
        client = AsyncWebClient(
            token=settings.bot_token.get_secret_value(),
            base_url=settings.api_url,
            timeout=timeout,
            session=session,
        )
        try:
            answer = await client.auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error") or exc.response.status_code
            return [*rows, ("slack: auth.test", False, f"{settings.api_url} answered {error}")]
        except (aiohttp.ClientError, TimeoutError) as exc:
            return [*rows, ("slack: auth.test", False, f"{settings.api_url}: {exc!r}")]
    team = answer.get("team") or answer.get("team_id")
    rows.append(("slack: auth.test", True, f"bot {answer.get('user_id')} in {team}"))
    granted_header = answer.headers.get("x-oauth-scopes") or answer.headers.get("X-OAuth-Scopes")
    if granted_header is None:
        rows.append(("slack: scopes", True, "not reported by the API; could not check"))
        return rows
    granted = {s.strip() for s in str(granted_header).split(",") if s.strip()}
    missing = [s for s in BOT_SCOPES if s not in granted]
    detail = "missing " + ", ".join(missing) if missing else "all granted"
    rows.append(("slack: scopes", not missing, detail))
    return rows
