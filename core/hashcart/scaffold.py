"""`hashcart new-plugin NAME`: a plugin distribution that installs, loads and passes its test.

A new plugin author should start from something that already works end to end (an entry point,
hook implementations, a test through `hashcart.testing`) and change it, rather than assemble it
from the docs. The files live in `scaffold_template/` with `${name}`-style placeholders.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from hashcart.errors import ConfigError

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
_SUFFIX = ".tmpl"


class ScaffoldError(ConfigError):
    """The plugin cannot be written as asked (a bad name, the folder exists): exit status 2."""


def new_plugin(name: str, parent: Path) -> Path:
    """Write `parent/hashcart-NAME/` and return it; an existing folder is never overwritten."""
    if not _NAME.match(name):
        raise ScaffoldError(
            f"plugin name {name!r}: 2-31 lower-case letters, digits or _, starting with a letter"
        )
    values = _spellings(name)
    target = parent / values["dist"]
    if target.exists():
        raise ScaffoldError(f"{target} exists already; choose another name or folder")
    for parts, template in _templates(resources.files("hashcart.scaffold_template")):
        relative = [values["module"] if part == "package" else part for part in parts]
        relative[-1] = relative[-1].removesuffix(_SUFFIX)
        destination = target.joinpath(*relative)
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = Template(template.read_text(encoding="utf-8")).substitute(values)
        destination.write_text(text, encoding="utf-8")
    return target


def _spellings(name: str) -> dict[str, str]:
    """Every spelling of the plugin's name the templates need."""
    words = name.split("_")
    return {
        "name": name,
        "dist": f"hashcart-{name.replace('_', '-')}",
        "module": f"hashcart_{name}",
        "upper": name.upper(),
        "cls": "".join(word.capitalize() for word in words),
        "title": " ".join(word.capitalize() for word in words),
    }


def _templates(
    folder: Traversable, parts: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.is_dir() and entry.name != "__pycache__":
            yield from _templates(entry, (*parts, entry.name))
        elif entry.name.endswith(_SUFFIX):
            yield (*parts, entry.name), entry
