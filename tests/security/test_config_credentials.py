"""A platform's half-given credentials fail start-up instead of starting with "platforms: none"."""

from __future__ import annotations

import pytest

from tests.security.conftest import run_hashcart

FAKE = "value-that-must-not-be-printed-9f3a"

INCOMPLETE = [
    ("slack", {"HASHCART_SLACK_BOT_TOKEN": FAKE}, "HASHCART_SLACK_SIGNING_SECRET"),
    (
        "slack",
        {"HASHCART_SLACK_SIGNING_SECRET": FAKE, "HASHCART_SLACK_CLIENT_ID": "1.2"},
        "HASHCART_SLACK_CLIENT_SECRET",
    ),
    (
        "twitter",
        {
            "HASHCART_TWITTER_CONSUMER_KEY": FAKE,
            "HASHCART_TWITTER_CONSUMER_SECRET": FAKE,
            "HASHCART_TWITTER_ACCESS_TOKEN": FAKE,
        },
        "HASHCART_TWITTER_ACCESS_TOKEN_SECRET",
    ),
    (
        "twitter",
        {
            "HASHCART_TWITTER_CONSUMER_KEY": FAKE,
            "HASHCART_TWITTER_CONSUMER_SECRET": FAKE,
            "HASHCART_TWITTER_ACCESS_TOKEN": FAKE,
            "HASHCART_TWITTER_ACCESS_TOKEN_SECRET": FAKE,
            "HASHCART_TWITTER_MODE": "stream",
        },
        "HASHCART_TWITTER_BEARER_TOKEN",
    ),
    ("mastodon", {"HASHCART_MASTODON_ACCESS_TOKEN": FAKE}, "HASHCART_MASTODON_API_URL"),
    (
        "mastodon",
        {"HASHCART_MASTODON_API_URL": "https://social.example"},
        "HASHCART_MASTODON_ACCESS_TOKEN",
    ),
]


@pytest.mark.parametrize(("plugin", "given", "missing"), INCOMPLETE)
@pytest.mark.parametrize("command", ["serve", "doctor"])
def test_incomplete_credentials_fail_start_up(
    cli_env: dict[str, str], plugin: str, given: dict[str, str], missing: str, command: str
):
    args = ["serve", "--no-migrate"] if command == "serve" else ["doctor"]
    result = run_hashcart(args, {**cli_env, "HASHCART_LOAD_PLUGINS": plugin, **given}, timeout=30)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hashcart: "), result.stderr
    assert missing in lines[0]
    assert FAKE not in result.stderr and FAKE not in result.stdout


def test_no_credentials_at_all_is_fine(cli_env: dict[str, str]):
    """A platform nobody configured simply stays off: no configuration error."""
    result = run_hashcart(["doctor"], {**cli_env, "HASHCART_LOAD_PLUGINS": "slack"})
    assert result.returncode == 0 and not result.stderr, (result.stdout, result.stderr)
