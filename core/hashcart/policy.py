"""The built-in policy: bots are ignored and every identity and account is rate limited.

The first refusal in a window is answered with when to try again; later ones in the same window
are silent, so a bot cannot make hashcart spam a timeline. Counters live in the database
(through `PolicyContext.hit`), so several nodes share them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pluggy

from hashcart.commands import Action, CartCommand, Outcome, OutcomeCode
from hashcart.policy_api import PolicyContext, RateDecision

if TYPE_CHECKING:
    from hashcart.app import Hashcart

hookimpl = pluggy.HookimplMarker("hashcart")

#: Commands that only inform and never change anything are not counted.
UNCOUNTED = frozenset({Action.HELP})


@hookimpl(trylast=True)
async def hashcart_check_command(
    command: CartCommand, context: PolicyContext, hashcart: Hashcart
) -> Outcome | None:
    if command.is_bot:
        return Outcome(OutcomeCode.DENIED, {"reason": "bot"}, silent=True)
    if command.action in UNCOUNTED:
        return None
    settings = hashcart.settings
    limits = [(60, settings.rate_limit_per_minute), (3600, settings.rate_limit_per_hour)]
    scopes = [f"identity:{command.platform}:{command.user_id}"]
    if context.account_id:
        scopes.append(f"account:{context.account_id}")
    for scope in scopes:
        for window, limit in limits:
            if limit <= 0:
                continue
            decision = await context.hit(f"{scope}:{window}", limit, window)
            if not decision.allowed:
                return _refusal(decision)
    return None


def _refusal(decision: RateDecision) -> Outcome:
    minutes = max(1, math.ceil(decision.retry_after / 60))
    return Outcome(
        OutcomeCode.RATE_LIMITED,
        {"minutes": minutes, "retry_after": round(decision.retry_after)},
        silent=not decision.first_refusal,
    )
