"""MkDocs hook: writes the hook reference from `hashcart.hookspecs` at every docs build.

The reference is generated, never written by hand, so it cannot drift from the code: every
`hashcart_*` spec becomes a section with its exact signature, its pluggy options and its own
docstring, followed by a runnable example from `hook_examples/<hook>.py`. A hook without a
docstring or without an example stops the build (and `tests/authors/test_docs.py` says which).
The lists of actions and outcome codes in `commands.md` come from the enums the same way.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hashcart import Action, OutcomeCode, hookspecs
from hashcart.commands import SUCCESS_CODES
from hashcart.i18n import translate

PLACEHOLDER = "<!-- hook-reference -->"
ACTIONS = "<!-- actions -->"
OUTCOMES = "<!-- outcome-codes -->"
EXAMPLES = Path(__file__).parent / "hook_examples"
_BANNER = re.compile(r"^# -{10,}\n# (?P<title>[^\n]+)\n# -{10,}$", re.MULTILINE)
_SPEC = re.compile(r"^(?:async )?def (hashcart_\w+)\(", re.MULTILINE)


class UndocumentedHook(Exception):
    """A hook spec lacks what its reference entry needs."""


def spec_function(name: str) -> Callable[..., Any]:
    function: Callable[..., Any] = getattr(hookspecs, name)
    return function


def spec_options(name: str) -> dict[str, Any]:
    options: dict[str, Any] = getattr(spec_function(name), "hashcart_spec", {})
    return options


def signature(name: str) -> str:
    """The spec's signature as its source spells it (annotations are strings there)."""
    function = spec_function(name)
    params = []
    for param in inspect.signature(function).parameters.values():
        annotation = param.annotation
        params.append(
            param.name if annotation is inspect.Parameter.empty else f"{param.name}: {annotation}"
        )
    returns = inspect.signature(function).return_annotation
    prefix = "async def" if inspect.iscoroutinefunction(function) else "def"
    tail = "" if returns is inspect.Signature.empty else f" -> {returns}"
    return f"{prefix} {name}({', '.join(params)}){tail}"


def groups() -> list[tuple[str, list[str]]]:
    """Hooks in source order under the banners of `hookspecs.py` (start-up, per command, …)."""
    source = inspect.getsource(hookspecs)
    marks: list[tuple[int, str]] = [(m.start(), m.group("title")) for m in _BANNER.finditer(source)]
    found: list[tuple[str, list[str]]] = []
    known = set(hookspecs.hook_names())
    for match in _SPEC.finditer(source):
        if match.group(1) not in known:
            continue
        title = "Hooks"
        for position, banner in marks:
            if position < match.start():
                title = banner
        if not found or found[-1][0] != title:
            found.append((title, []))
        found[-1][1].append(match.group(1))
    listed = {name for _, names in found for name in names}
    missing = sorted(known - listed)
    if missing:
        found.append(("Other hooks", missing))
    return found


def problems() -> list[str]:
    """What keeps the reference from being complete: one line per missing docstring or example."""
    found = []
    for name in hookspecs.hook_names():
        if not inspect.getdoc(spec_function(name)):
            found.append(f"{name}: the spec in hashcart/hookspecs.py has no docstring")
        if not (EXAMPLES / f"{name}.py").is_file():
            found.append(f"{name}: no example in docs/_tools/hook_examples/{name}.py")
    return found


def example(name: str) -> str:
    return (EXAMPLES / f"{name}.py").read_text(encoding="utf-8").strip()


def entry(name: str) -> str:
    options = spec_options(name)
    traits = []
    if options.get("firstresult"):
        traits.append("first result wins")
    else:
        traits.append("every implementation is called")
    if options.get("historic"):
        traits.append("historic")
    if inspect.iscoroutinefunction(spec_function(name)):
        traits.append("usually `async def`")
    doc = inspect.getdoc(spec_function(name)) or ""
    return "\n".join(
        [
            f"### `{name}`",
            "",
            "```python",
            signature(name),
            "```",
            "",
            f"*{'; '.join(traits).capitalize()}.*",
            "",
            textwrap.dedent(doc),
            "",
            "Example:",
            "",
            "```python",
            example(name),
            "```",
            "",
        ]
    )


def reference() -> str:
    errors = problems()
    if errors:
        raise UndocumentedHook("; ".join(errors))
    parts = []
    for title, names in groups():
        parts.append(f"## {title}\n")
        parts.extend(entry(name) for name in names)
    return "\n".join(parts)


def actions() -> str:
    return ", ".join(f"`{action.value}`" for action in Action)


def outcomes() -> str:
    """Every outcome code with the English sentence its answer is worded from."""
    rows = ["| code | success | English answer (placeholders from `Outcome.params`) |"]
    rows.append("| --- | --- | --- |")
    for code in OutcomeCode:
        sentence = translate("en", f"reply.{code.value}").replace("|", "\\|").replace("\n", " ")
        if sentence == f"reply.{code.value}":
            sentence = "*(no sentence in the catalog yet: the message id is sent)*"
        rows.append(f"| `{code.value}` | {'yes' if code in SUCCESS_CODES else ''} | {sentence} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: fill the placeholders in `hooks.md` and `commands.md`."""
    if PLACEHOLDER in markdown:
        markdown = markdown.replace(PLACEHOLDER, reference())
    if ACTIONS in markdown:
        markdown = markdown.replace(ACTIONS, actions())
    if OUTCOMES in markdown:
        markdown = markdown.replace(OUTCOMES, outcomes())
    return markdown
