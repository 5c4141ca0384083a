"""The action registry: one handler per action, each giving only the outcomes it declares."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hashcart import Action, Outcome, OutcomeCode
from hashcart.actions import HANDLERS, Context, handles
from hashcart.i18n import message_ids
from hashcart.testing import RunningHashcart
from tests.core.fakes import FakePlatform, command


def test_every_action_has_one_handler() -> None:
    assert set(HANDLERS) == set(Action)
    assert all(handler.action is action for action, handler in HANDLERS.items())


def test_a_second_handler_for_an_action_is_refused() -> None:
    async def again(ctx: Context) -> Outcome:
        return Outcome(OutcomeCode.HELP)

    with pytest.raises(RuntimeError, match="two handlers for 'help'"):
        handles(Action.HELP, OutcomeCode.HELP)(again)
    assert HANDLERS[Action.HELP].run is not again


@pytest.mark.parametrize("locale", ["en", "de"])
def test_every_declared_outcome_has_its_words(locale: str) -> None:
    known = message_ids(locale)
    declared = {code for handler in HANDLERS.values() for code in handler.outcomes}
    assert {f"reply.{code.value}" for code in declared} - known == set()


def test_only_help_link_and_unlink_work_without_an_account() -> None:
    free = {action for action, handler in HANDLERS.items() if not handler.needs_account}
    assert free == {Action.HELP, Action.LINK, Action.UNLINK}


async def test_handlers_give_only_the_outcomes_they_declare(
    hc: RunningHashcart, fake_platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[tuple[Action, OutcomeCode]] = []
    for action, handler in list(HANDLERS.items()):

        async def recorded(ctx: Context, run=handler.run, action=action) -> Outcome:  # type: ignore[no-untyped-def]
            outcome = await run(ctx)
            given.append((action, outcome.code))
            return outcome

        monkeypatch.setitem(HANDLERS, action, replace(handler, run=recorded))
    await hc.link("alice", "fake", "u1")
    script = [
        ("add", None), ("add", None), ("list", None), ("remove", None), ("remove", None),
        ("clear", None), ("list", None), ("checkout", None), ("add", None), ("checkout", None),
        ("confirm", None), ("confirm", None), ("privacy", "on"), ("privacy", "off"),
        ("language", "de"), ("language", "xx"), ("language", "auto"), ("help", None),
        ("link", None), ("forget", None), ("forget", "confirm"), ("unlink", None),
    ]  # fmt: skip
    for index, (action, argument) in enumerate(script):
        await hc.hashcart.submit(command(action, event_id=f"s{index}", argument=argument))
    assert {action for action, _ in given} == set(Action)
    for action, code in given:
        assert code in HANDLERS[action].outcomes, (action, code)
