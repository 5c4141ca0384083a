"""Delivering one queued answer: to the command's `response_url`, with chat.postEphemeral, or
into the direct-message conversation a command came from.

Failures are sorted for the core's reply sender: busy or broken (429, 5xx, timeouts, connection
errors) means `RetryLater`, honouring Slack's `Retry-After`; anything else is a refusal for good.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_sdk.errors import SlackApiError

from hashcart import OutgoingReply, RetryLater, SendRefused, Verdict, classify_answer
from hashcart_slack.commands import DIRECT, EPHEMERAL

if TYPE_CHECKING:
    from hashcart_slack.platform import SlackPlatform


async def send(platform: SlackPlatform, reply: OutgoingReply) -> None:
    target = reply.target
    blocks = reply.content.extra.get("blocks")
    mode = target.extra.get("mode")
    if mode in (EPHEMERAL, DIRECT):
        await _post(platform, reply, {"blocks": blocks} if blocks else {})
        return
    team_id, enterprise_id = target.extra.get("team_id"), target.extra.get("enterprise_id")
    if await platform.workspace_gone(team_id, enterprise_id):  # the others ask for its token
        raise SendRefused(f"workspace {team_id} uninstalled the app")
    if not target.channel:
        raise SendRefused("no response_url to answer to")
    body: dict[str, Any] = {"response_type": "ephemeral", "text": reply.content.text}
    if blocks:
        body["blocks"] = blocks
    await platform.post_response(target.channel, body)


async def _post(platform: SlackPlatform, reply: OutgoingReply, kwargs: dict[str, Any]) -> None:
    """An ephemeral message in the channel, or a plain one in the direct-message conversation
    a command came from."""
    target = reply.target
    if not target.channel:
        raise SendRefused("no channel to answer in")
    client = await platform.client_for(
        target.extra.get("team_id"), target.extra.get("enterprise_id")
    )
    post: Callable[..., Awaitable[Any]]
    if target.extra.get("mode") == DIRECT:
        method, post = "chat.postMessage", client.chat_postMessage
    else:
        method, post = "chat.postEphemeral", client.chat_postEphemeral
        kwargs["user"] = target.user
        if target.extra.get("thread_ts"):
            kwargs["thread_ts"] = target.extra["thread_ts"]
    try:
        await post(channel=target.channel, text=reply.content.text, **kwargs)
    except SlackApiError as exc:
        response = exc.response
        raise classify(response.status_code, response.headers, response.get("error")) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RetryLater(f"{method}: {type(exc).__name__}", 0.0) from exc


def classify(status: int, headers: Any, error: object) -> RetryLater | SendRefused:
    """The reply sender's verdict on a failed Slack call (an `ok: false` 200 is refused too).

    A 429 without a readable `Retry-After` waits one second; a 5xx gets no hint from Slack, so
    the sender's own backoff applies.
    """
    reason = f"slack answered {status}: {error}"
    answer = classify_answer(status, headers)
    if answer.verdict is not Verdict.RETRY:
        return SendRefused(reason)
    if status == 429:
        return answer.send_error(reason, default_wait=1.0)
    return RetryLater(reason, 0.0)
