"""`hashcart plugins`: each plugin's distribution, version, hooks and configuration state."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashcart.cli import main


def plugins_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]
) -> dict[str, list[str]]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as stopped:
        main(["plugins"])
    assert stopped.value.code == 0
    blocks: dict[str, list[str]] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith(" "):
            blocks[next(reversed(blocks))].append(line.strip())
        else:
            blocks[line] = []
    return blocks


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "HASHCART_LOAD_PLUGINS": "mastodon,amazon",
        "HASHCART_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "HASHCART_CONFIG": str(tmp_path / "absent.toml"),
    }


def test_plugins_shows_distribution_hooks_and_what_configuration_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]
) -> None:
    blocks = plugins_output(monkeypatch, capsys, env)
    assert blocks["mastodon  (hashcart-mastodon 0.1.0)"] == [
        "hooks: hashcart_doctor, hashcart_format_reply, hashcart_platform, hashcart_settings, "
        "hashcart_signin_provider",
        "configuration: INCOMPLETE: its platform stays off until its credentials are set "
        "(unset: HASHCART_MASTODON_API_URL, HASHCART_MASTODON_ACCESS_TOKEN, "
        "HASHCART_MASTODON_STREAMING_URL, HASHCART_MASTODON_CLIENT_ID, "
        "HASHCART_MASTODON_CLIENT_SECRET)",
    ]
    hooks, configuration = blocks["amazon  (hashcart 0.1.0)"]
    assert "hashcart_product_from_url" in hooks
    assert configuration == (
        "configuration: complete (optional, unset: HASHCART_AMAZON_CREDENTIAL_ID, "
        "HASHCART_AMAZON_CREDENTIAL_SECRET, HASHCART_AMAZON_PARTNER_TAG, HASHCART_AMAZON_AUTH_URL)"
    )


def test_plugins_says_complete_once_the_credentials_are_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]
) -> None:
    env |= {
        "HASHCART_MASTODON_API_URL": "https://social.example",
        "HASHCART_MASTODON_ACCESS_TOKEN": "token",
    }
    blocks = plugins_output(monkeypatch, capsys, env)
    assert blocks["mastodon  (hashcart-mastodon 0.1.0)"][1] == "configuration: complete"


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_still_load(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    dist_info = tmp_path / "site" / "hashcart_broken-0.3.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hashcart-broken\nVersion: 0.3\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[hashcart.plugins]\nbroken = hashcart_broken_does_not_exist\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    blocks = plugins_output(monkeypatch, capsys, env | {"HASHCART_LOAD_PLUGINS": "broken,mastodon"})
    assert (
        "broken  (hashcart-broken 0.3)  FAILED: ModuleNotFoundError: "
        "No module named 'hashcart_broken_does_not_exist'"
    ) in blocks
    assert "mastodon  (hashcart-mastodon 0.1.0)" in blocks
