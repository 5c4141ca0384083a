"""`hashcart new-plugin`: what it writes installs as a plugin, lints clean and passes its test."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hashcart.plugins import undeclared
from hashcart.scaffold import ScaffoldError, new_plugin

BIN = Path(sys.executable).parent
TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"
MAIN_MODULE_LINES = 40


def hashcart(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashcart", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HASHCART_LOAD_PLUGINS": ""},
    )


def test_new_plugin_writes_a_distribution_whose_own_test_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = new_plugin("echo_chat", tmp_path)
    assert root == tmp_path / "hashcart-echo-chat"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "README.md",
        "hashcart_echo_chat/__init__.py",
        "hashcart_echo_chat/platform.py",
        "hashcart_echo_chat/py.typed",
        "pyproject.toml",
        "tests/test_plugin.py",
    ]

    # The first plugin fits on one screen: what asks for something, and the hooks.
    main = (root / "hashcart_echo_chat" / "__init__.py").read_text().splitlines()
    assert len(main) <= MAIN_MODULE_LINES, f"the main module has {len(main)} lines"

    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "hashcart-echo-chat"
    target = project["project"]["entry-points"]["hashcart.plugins"]["echo_chat"]
    monkeypatch.syspath_prepend(str(root))
    plugin = importlib.import_module(target)
    assert all(
        hasattr(plugin, hook)
        for hook in ("hashcart_settings", "hashcart_platform", "hashcart_web_routes")
    )
    platform = importlib.import_module(f"{target}.platform").EchoChatPlatform
    assert undeclared(platform) == []  # every action mapped or declared not offered

    for lint in (["check", "."], ["format", "--check", "."]):
        checked = subprocess.run(
            [str(BIN / "ruff"), *lint], cwd=root, capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr

    # Its own test, through the test kit's `hashcart` fixture, run by pytest with the plugin's pyproject, in this process (a subprocess
    # would spend most of its time importing hashcart again).
    monkeypatch.syspath_prepend(str(root))
    config = ["-c", str(root / "pyproject.toml"), "--rootdir", str(root)]
    options = ["-q", "-p", "no:cacheprovider", "--import-mode=importlib"]
    assert pytest.main([*config, *options, str(root / "tests")]) == pytest.ExitCode.OK
    assert "2 passed" in capsys.readouterr().out


def test_new_plugin_refuses_bad_names_and_existing_folders(tmp_path: Path) -> None:
    for bad in ("Echo", "x", "9lives", "echo-chat", "a" * 40):
        with pytest.raises(ScaffoldError):
            new_plugin(bad, tmp_path)
    new_plugin("echo", tmp_path)
    with pytest.raises(ScaffoldError, match="exists"):
        new_plugin("echo", tmp_path)

    result = hashcart("new-plugin", "other", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "hashcart-other" / "hashcart_other" / "__init__.py").is_file()
    result = hashcart("new-plugin", "echo", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "hashcart: hashcart-echo exists already; choose another name or folder"
    ]


def test_the_tutorial_shows_the_main_module_as_generated(tmp_path: Path) -> None:
    main = (new_plugin("echo", tmp_path) / "hashcart_echo" / "__init__.py").read_text()
    assert f"```python\n{main}```" in TUTORIAL.read_text()
