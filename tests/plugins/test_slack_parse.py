"""Reading `/cart` arguments and Slack message markup: a table of what people type."""

from __future__ import annotations

import pytest

from hashcart import Action
from hashcart_slack.commands import strip_command_word
from hashcart_slack.parse import Parsed, parse_command, unwrap, urls_in

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"add <{ECHO}|amazon.com/dp/B00X4WHP5E>", Parsed(Action.ADD, ECHO)),
        (f"add <{ECHO}> 3", Parsed(Action.ADD, ECHO, 3)),
        (f"ADD 2 <{ECHO}>", Parsed(Action.ADD, ECHO, 2)),
        (f"add {ECHO}", Parsed(Action.ADD, ECHO)),
        ("add 9780306406157", Parsed(Action.ADD, "9780306406157")),
        ("add 9780306406157 4", Parsed(Action.ADD, "9780306406157", 4)),
        ("add", Parsed(Action.ADD)),
        ("add 2", Parsed(Action.ADD, None, 2)),
        (f"add <{ECHO}> 0", Parsed(Action.HELP, argument="add")),
        (f"add <{ECHO}> <{ECHO}>", Parsed(Action.HELP, argument="add")),
        (f"remove <{ECHO}>", Parsed(Action.REMOVE, ECHO)),
        ("list", Parsed(Action.LIST)),
        ("  clear  ", Parsed(Action.CLEAR)),
        ("link", Parsed(Action.LINK)),
        ("unlink", Parsed(Action.UNLINK)),
        ("privacy on", Parsed(Action.PRIVACY, argument="on")),
        ("privacy OFF", Parsed(Action.PRIVACY, argument="off")),
        ("privacy", Parsed(Action.HELP, argument="privacy")),
        ("language de", Parsed(Action.LANGUAGE, argument="de")),
        ("language", Parsed(Action.LANGUAGE)),
        ("forget", Parsed(Action.FORGET)),
        ("forget confirm", Parsed(Action.FORGET, argument="confirm")),
        ("", Parsed(Action.HELP)),
        ("help", Parsed(Action.HELP)),
        ("what is this", Parsed(Action.HELP)),
    ],
)
def test_parse_command(text: str, expected: Parsed) -> None:
    assert parse_command(text) == expected


def test_unwrap_slack_markup() -> None:
    text = "hi <@U123> in <#C1|deals>: <https://a.example/x?a=1&amp;b=2|label> &lt;3"
    assert unwrap(text) == "hi   in  : https://a.example/x?a=1&b=2 <3"


def test_urls_in_message_text() -> None:
    text = f"#amazoncart <{ECHO}|amazon> and <https://example.com/review>."
    assert urls_in(text) == [ECHO, "https://example.com/review"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/cart add x", "add x"),
        ("cart list", "list"),
        ("CART", ""),
        ("add x", "add x"),
        ("cartography", "cartography"),
    ],
)
def test_a_direct_message_may_start_with_the_command_word(text: str, expected: str) -> None:
    assert strip_command_word(text) == expected
