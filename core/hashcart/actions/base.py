"""What a handler is given and how it registers for its action."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hashcart.commands import Action, CartCommand, Outcome, OutcomeCode
from hashcart.pipeline.carts import Cart
from hashcart.pipeline.group import Group
from hashcart.pipeline.prepared import Account, Prepared, locale_of
from hashcart.pipeline.statements import Statements

if TYPE_CHECKING:
    from hashcart.app import Hashcart


@dataclass(slots=True)
class Context:
    """One command inside its group's transaction."""

    hashcart: Hashcart
    statements: Statements
    group: Group
    item: Prepared
    account: Account | None

    @property
    def command(self) -> CartCommand:
        return self.item.command

    @property
    def now(self) -> float:
        return self.group.now

    @property
    def linked(self) -> Account:
        """The account of a handler that declared it needs one (it is then never None)."""
        assert self.account is not None
        return self.account

    @property
    def cart(self) -> Cart:
        return self.group.carts.of(self.linked.id)

    @property
    def locale(self) -> str | None:
        return locale_of(self.account, self.command)

    @property
    def token_seconds(self) -> int:
        """How long a link token, a pending add or a question waiting for `confirm` lasts."""
        return self.hashcart.settings.link_token_minutes * 60


Run = Callable[[Context], Awaitable[Outcome]]
#: What an action keeps for later when its asker has no account yet; adds to the answer's
#: parameters.
Unlinked = Callable[[Context, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Handler:
    """An action's rules. `outcomes` are every code `run` can give (a policy plugin's refusal
    and the pipeline's own codes aside); without a linked account, an action that
    `needs_account` answers `link_needed` and `run` is not called, `unlinked` is."""

    action: Action
    outcomes: frozenset[OutcomeCode]
    run: Run
    needs_account: bool = True
    unlinked: Unlinked | None = None


HANDLERS: dict[Action, Handler] = {}


def handles(
    action: Action, *outcomes: OutcomeCode, needs_account: bool = True,
    unlinked: Unlinked | None = None,
) -> Callable[[Run], Run]:  # fmt: skip
    """Registers the decorated function as the handler of `action`."""

    def register(run: Run) -> Run:
        if action in HANDLERS:
            raise RuntimeError(f"two handlers for {action.value!r}")
        HANDLERS[action] = Handler(action, frozenset(outcomes), run, needs_account, unlinked)
        return run

    return register
