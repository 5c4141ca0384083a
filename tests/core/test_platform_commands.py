"""Every platform says, for every action, how it is asked for or that it is not offered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from hashcart.commands import Action
from hashcart.plugins import platform_classes, undeclared


def test_the_four_chat_platforms_are_found() -> None:
    names = {cls.name for cls in platform_classes()}  # type: ignore[attr-defined]
    assert {"slack", "twitter", "discord", "mastodon"} <= names


def test_every_platform_maps_every_action_or_declares_it_unsupported() -> None:
    missing = {
        cls.name: undeclared(cls)  # type: ignore[attr-defined]
        for cls in platform_classes()
        if undeclared(cls)
    }
    assert missing == {}


def test_a_platform_that_forgets_an_action_is_caught() -> None:
    class Forgetful:
        name = "forgetful"
        commands: ClassVar[Mapping[Action, str | None]] = {
            action: None for action in Action if action is not Action.LANGUAGE
        }

        async def start(self) -> None: ...

        async def stop(self) -> None: ...

        async def send_reply(self, reply: object) -> None: ...

    assert undeclared(Forgetful) == [Action.LANGUAGE]


def test_commands_are_actions_mapped_to_words_or_none() -> None:
    for cls in platform_classes():
        commands = cls.commands  # type: ignore[attr-defined]
        assert set(commands) <= set(Action)
        assert all(
            value is None or (isinstance(value, str) and value) for value in commands.values()
        )
