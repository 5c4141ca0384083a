"""Placeholder or short secrets fail start-up: exit 2, one line naming the variable, never the value."""

from __future__ import annotations

import pytest

from hashcart import ConfigError
from hashcart.config import MIN_SECRET_LENGTH, Settings, load_settings
from hashcart.testing import ADMIN_TOKEN, SESSION_SECRET
from hashcart.web.session import WebSettings
from tests.security.conftest import run_hashcart

#: What deploy/ and the README ship, and what people type first.
PLACEHOLDERS = ["CHANGE-ME", "changeme", "secret", "CHANGE-ME-CHANGE-ME-CHANGE-ME-CHANGE-ME"]


@pytest.mark.parametrize("variable", ["HASHCART_ADMIN_TOKEN", "HASHCART_SESSION_SECRET"])
@pytest.mark.parametrize("value", [*PLACEHOLDERS, "short-but-random-x7"])
def test_placeholder_secret_fails_serve_without_printing_it(
    cli_env: dict[str, str], variable: str, value: str
):
    result = run_hashcart(["serve", "--no-migrate"], {**cli_env, variable: value}, timeout=30)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"hashcart: {variable}:"), result.stderr
    assert value not in result.stderr and value not in result.stdout


def test_bearer_change_me_is_not_admin():
    """The attack: `Authorization: Bearer CHANGE-ME` against a server deployed from deploy/."""
    with pytest.raises(ConfigError, match="HASHCART_ADMIN_TOKEN: is a placeholder"):
        load_settings(Settings, admin_token="CHANGE-ME")


def test_session_secret_placeholder_cannot_sign_cookies():
    with pytest.raises(ConfigError, match="HASHCART_SESSION_SECRET: is a placeholder"):
        load_settings(WebSettings, session_secret="CHANGE-ME")
    with pytest.raises(ConfigError, match="HASHCART_SESSION_SECRET: is too short"):
        load_settings(WebSettings, session_secret="x" * (MIN_SECRET_LENGTH - 1))


def test_strong_secrets_and_unset_ones_are_accepted():
    assert load_settings(Settings, admin_token=ADMIN_TOKEN).admin_token == ADMIN_TOKEN
    assert load_settings(Settings, admin_token="").admin_token is None  # admin API off
    web = load_settings(WebSettings, session_secret=SESSION_SECRET)
    assert web.session_secret is not None
    assert web.session_secret.get_secret_value() == SESSION_SECRET
    assert load_settings(WebSettings, session_secret="").session_secret is None  # random


def test_rejected_values_are_never_printed(cli_env: dict[str, str]):
    """A database URL carries a password; a bad one must not end up on a terminal or in logs."""
    password = "hunter2-very-private"
    for variable, value in [
        ("HASHCART_DATABASE_URL", f"mysql://shop:{password}@db/shop"),
        ("HASHCART_PORT", password),
    ]:
        result = run_hashcart(["db", "upgrade"], {**cli_env, variable: value})
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"hashcart: {variable}:")
        assert password not in result.stderr
