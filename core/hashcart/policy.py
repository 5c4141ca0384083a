"""The built-in policy: bots and denied identities are dropped, stores can be limited, every
identity and account is rate limited, and a run of links that are not products trips a cool-down.

Only the first refusal in a window is answered, so a bot cannot make hashcart spam a timeline.
Counters live in the database, shared by every node. An operator's own `hashcart_check_command`
runs before this one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Literal, get_args

import pluggy

from hashcart.commands import PRODUCT_ACTIONS, Action, CartCommand, Outcome, OutcomeCode
from hashcart.kv import KeyValueStore
from hashcart.policy_api import PolicyContext, RateDecision

if TYPE_CHECKING:
    from hashcart.app import Hashcart

hookimpl = pluggy.HookimplMarker("hashcart")

#: Commands that only inform and never change anything are not counted.
UNCOUNTED = frozenset({Action.HELP})
#: Answers that mean "that was not a product we can add".
REJECTIONS = frozenset(
    {OutcomeCode.NOT_A_PRODUCT, OutcomeCode.UNKNOWN_PRODUCT, OutcomeCode.UNAVAILABLE}
)
#: Rejected links one identity may send in `REJECT_WINDOW` seconds before it cools down.
REJECT_LIMIT = 5
REJECT_WINDOW = 600

ListName = Literal["deny", "allow"]
Kind = Literal["identity", "store"]
NAMESPACE = "policy"
LISTS, KINDS = get_args(ListName), get_args(Kind)
#: The lists by name, then kind: `rules["deny"]["store"]`.
Rules = Mapping[str, Mapping[str, AbstractSet[str]]]


class PolicyRules:
    """Deny and allow lists of identities (`platform:user_id`) and stores, kept in the database;
    every command reads them, so a node keeps a copy (other nodes see a change within `ttl`)."""

    def __init__(self, kv: KeyValueStore, ttl: float = 2.0) -> None:
        self._kv = kv
        self._ttl = ttl
        self._rules: Rules | None = None
        self._loaded_at = 0.0

    async def current(self) -> Rules:
        if self._rules is None or time.monotonic() - self._loaded_at > self._ttl:
            rules: dict[str, dict[str, set[str]]] = {n: {k: set() for k in KINDS} for n in LISTS}
            for key in await self._kv.keys(NAMESPACE):
                name, kind, value = key.split(":", 2)
                rules.setdefault(name, {}).setdefault(kind, set()).add(value)
            self._rules, self._loaded_at = rules, time.monotonic()
        return self._rules

    async def listing(self) -> dict[str, dict[str, list[str]]]:
        self._rules = None
        rules = await self.current()
        return {name: {kind: sorted(rules[name][kind]) for kind in KINDS} for name in LISTS}

    async def add(self, name: ListName, kind: Kind, value: str) -> None:
        await self._kv.put(NAMESPACE, f"{name}:{kind}:{value}", {"added_at": time.time()})
        self._rules = None

    async def remove(self, name: ListName, kind: Kind, value: str) -> bool:
        removed = await self._kv.delete(NAMESPACE, f"{name}:{kind}:{value}")
        self._rules = None
        return removed


@hookimpl(trylast=True)
async def hashcart_check_command(
    command: CartCommand, context: PolicyContext, hashcart: Hashcart
) -> Outcome | None:
    if command.is_bot:
        return Outcome(OutcomeCode.DENIED, {"reason": "bot"}, silent=True)
    rules = await hashcart.policy_rules.current()
    identity = f"{command.platform}:{command.user_id}"
    if identity in rules["deny"]["identity"]:
        return Outcome(OutcomeCode.DENIED, {"reason": "deny list"}, silent=True)
    store = command.product.store if command.product else None
    if command.action in PRODUCT_ACTIONS and store and _store_refused(rules, store):
        return Outcome(OutcomeCode.STORE_DENIED, {"store": store})
    if identity in rules["allow"]["identity"] or command.action in UNCOUNTED:
        return None
    cooled = await _cool_down(command, context, identity)
    if cooled is not None:
        return cooled
    per_minute, per_hour = hashcart.settings.rate_limits_for(command.platform)
    account = [f"account:{context.account_id}"] if context.account_id else []
    scopes = [f"identity:{identity}", *account]
    for scope in scopes:
        for window, limit in ((60, per_minute), (3600, per_hour)):
            if limit <= 0:
                continue
            decision = await context.hit(f"{scope}:{window}", limit, window)
            if not decision.allowed:
                return _refusal(OutcomeCode.RATE_LIMITED, decision)
    return None


async def refusal_before_lookup(command: CartCommand, hashcart: Hashcart) -> Outcome | None:
    """What the built-in policy is bound to answer, learnt without counting anything, so that a
    bot, a denied identity or one over its rate limit cannot make hashcart resolve a link (an
    outbound request to a shortener) before the refusal. Looked up outside the transaction; the
    policy still decides (and counts) inside it."""
    if command.is_bot:
        return Outcome(OutcomeCode.DENIED, {"reason": "bot"}, silent=True)
    rules = await hashcart.policy_rules.current()
    identity = f"{command.platform}:{command.user_id}"
    if identity in rules["deny"]["identity"]:
        return Outcome(OutcomeCode.DENIED, {"reason": "deny list"}, silent=True)
    if identity in rules["allow"]["identity"] or command.action in UNCOUNTED:
        return None
    per_minute, per_hour = hashcart.settings.rate_limits_for(command.platform)
    for window, limit in ((60, per_minute), (3600, per_hour)):
        if (
            limit > 0
            and await hashcart.counters.peek(f"identity:{identity}:{window}", window) >= limit
        ):
            # Answered as the first refusal of the window would be.
            return _refusal(OutcomeCode.RATE_LIMITED, RateDecision(False, limit + 1, limit, window))
    return None


async def _cool_down(command: CartCommand, context: PolicyContext, identity: str) -> Outcome | None:
    """Links that keep failing from one identity are spam or a broken bot: stop answering them.
    Only failing links are counted and refused, so a real product still goes through."""
    expected = context.expected
    if command.action not in PRODUCT_ACTIONS or expected is None or expected.code not in REJECTIONS:
        return None
    decision = await context.hit(f"rejects:{identity}", REJECT_LIMIT, REJECT_WINDOW)
    return None if decision.allowed else _refusal(OutcomeCode.COOLING_DOWN, decision)


def _store_refused(rules: Rules, store: str) -> bool:
    allowed = rules["allow"]["store"]
    return store in rules["deny"]["store"] or (bool(allowed) and store not in allowed)


def _refusal(code: OutcomeCode, decision: RateDecision) -> Outcome:
    minutes = max(1, math.ceil(decision.retry_after / 60))
    return Outcome(
        code,
        {"minutes": minutes, "retry_after": round(decision.retry_after)},
        silent=not decision.first_refusal,
    )
