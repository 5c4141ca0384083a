"""The plugin-author docs cannot drift: every hook has a docstring, a reference entry and an
example that registers against its spec; every platform plugin appears in the mapping table."""

from __future__ import annotations

import importlib.util
import inspect
import re
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import pluggy
import pytest

from hashcart import Action, hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# Pointers at files that live outside the repository (spelled in pieces so this file is not one).
OUTSIDE = re.compile(
    "|".join([r"\.\./" + "shared", "SPEC" + r"(?: \u00a7|\.md)", r"platforms\.md`? \u00a7"])
)


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hashcart_docs_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load(DOCS / "_tools" / "hook_reference.py")


def test_every_hook_has_a_docstring_and_an_example(generator: ModuleType) -> None:
    assert generator.problems() == []


@pytest.mark.parametrize("name", hookspecs.hook_names())
def test_the_example_implements_its_hook_as_the_spec_declares_it(
    generator: ModuleType, name: str
) -> None:
    example = load(generator.EXAMPLES / f"{name}.py")
    manager = pluggy.PluginManager("hashcart")
    manager.add_hookspecs(hookspecs)
    manager.register(example)  # pluggy refuses arguments the spec does not have
    manager.check_pending()  # and hooks that do not exist
    implemented = {caller.name for caller in manager.get_hookcallers(example) or ()}
    assert name in implemented
    spec_is_async = inspect.iscoroutinefunction(getattr(hookspecs, name))
    if spec_is_async:
        assert inspect.iscoroutinefunction(getattr(example, name))


def test_the_reference_has_a_section_per_hook_with_its_signature(generator: ModuleType) -> None:
    text = generator.reference()
    for name in hookspecs.hook_names():
        assert f"### `{name}`" in text
        assert generator.signature(name) in text
    assert generator.PLACEHOLDER in (DOCS / "hooks.md").read_text()


def test_a_hook_without_docstring_stops_the_build(
    generator: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def hashcart_undocumented() -> None:
        pass

    monkeypatch.setattr(hookspecs, "hashcart_undocumented", hashcart_undocumented, raising=False)
    assert any("hashcart_undocumented" in p for p in generator.problems())
    with pytest.raises(generator.UndocumentedHook, match="hashcart_undocumented"):
        generator.on_page_markdown(generator.PLACEHOLDER, None, None, None)


def test_every_installed_platform_plugin_is_in_the_mapping_table() -> None:
    table = (DOCS / "wire-formats.md").read_text()
    for ep in entry_points(group="hashcart.plugins"):
        plugin = ep.load()
        if hasattr(plugin, "hashcart_platform"):
            assert f"`{ep.name}`" in table, f"docs/wire-formats.md does not map {ep.name}"


def test_the_platforms_page_is_what_the_plugins_declare() -> None:
    """Regenerate with `python docs/_tools/platform_reference.py` after changing a plugin."""
    generator = load(DOCS / "_tools" / "platform_reference.py")
    assert (DOCS / "platforms.md").read_text(encoding="utf-8") == generator.page()


def test_the_platforms_page_lists_settings_and_commands() -> None:
    generator = load(DOCS / "_tools" / "platform_reference.py")
    names = {plugin.name for plugin in generator.repository_plugins() if plugin.platforms}
    assert {"slack", "twitter", "discord", "mastodon"} <= names
    text = generator.page()
    assert "| `HASHCART_SLACK_SIGNING_SECRET` | unset |" in text
    assert "| `HASHCART_AMAZON_REQUESTS_PER_SECOND` | `1` | the account's getItems quota" in text

    class Declared:
        name = "declared"
        commands: ClassVar[dict[Action, str | None]] = {
            Action.ADD: "/cart add <link>",
            Action.HELP: None,
        }

    table = generator.commands_table(Declared)
    assert "| `add` | `/cart add <link>` |" in table
    assert "| `help` | *not offered* |" in table
    assert "| `list` | *not declared* |" in table


def tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name]


def test_nothing_points_outside_the_repository() -> None:
    """Facts live in docs/; a reader of a fresh clone cannot follow a pointer to another tree."""
    found = []
    for path in tracked_files():
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("tests/fixtures/") or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images and other binaries
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []


def test_the_pointer_check_sees_each_form() -> None:
    for line in (
        "see ../" + "shared/" + "SPEC" + ".md",
        "SPEC" + " \u00a73",
        "SPEC" + ".md",
        "`platforms.md`" + " \u00a72",
    ):
        assert OUTSIDE.search(line), line
    assert not OUTSIDE.search("RFC 6749 \u00a72.3.1")
