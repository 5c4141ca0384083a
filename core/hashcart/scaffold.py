"""`hashcart new-plugin NAME`: a plugin distribution that installs, loads and passes its test.

A new plugin author should start from something that already works end to end (an entry point,
hook implementations, a test through `hashcart.testing`) and change it, rather than assemble it
from the docs. The files live in `scaffold_template/` with `${name}`-style placeholders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from hashcart.errors import ConfigError

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
_SUFFIX = ".tmpl"


class ScaffoldError(ConfigError):
    """The plugin cannot be written as asked (a bad name, the folder exists): exit status 2."""


@dataclass(frozen=True, slots=True)
class Names:
    """Every spelling of the plugin's name the templates need."""

    name: str

    @property
    def dist(self) -> str:
        return f"hashcart-{self.name.replace('_', '-')}"

    @property
    def module(self) -> str:
        return f"hashcart_{self.name}"

    @property
    def upper(self) -> str:
        return self.name.upper()

    @property
    def cls(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))

    @property
    def title(self) -> str:
        return " ".join(part.capitalize() for part in self.name.split("_"))

    def substitutions(self) -> dict[str, str]:
        return {
            "name": self.name,
            "dist": self.dist,
            "module": self.module,
            "upper": self.upper,
            "cls": self.cls,
            "title": self.title,
        }


def check_name(name: str) -> Names:
    if not _NAME.match(name):
        raise ScaffoldError(
            f"plugin name {name!r}: 2-31 lower-case letters, digits or _, starting with a letter"
        )
    return Names(name)


def new_plugin(name: str, parent: Path) -> Path:
    """Write `parent/hashcart-NAME/` and return it; an existing folder is never overwritten."""
    names = check_name(name)
    target = parent / names.dist
    if target.exists():
        raise ScaffoldError(f"{target} exists already; choose another name or folder")
    values = names.substitutions()
    files = list(_templates(resources.files("hashcart.scaffold_template"), ()))
    for parts, template in files:
        relative = [names.module if part == "package" else part for part in parts]
        relative[-1] = relative[-1].removesuffix(_SUFFIX)
        destination = target.joinpath(*relative)
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = Template(template.read_text(encoding="utf-8")).substitute(values)
        destination.write_text(text, encoding="utf-8")
    return target


def _templates(
    folder: Traversable, parts: tuple[str, ...]
) -> list[tuple[tuple[str, ...], Traversable]]:
    found: list[tuple[tuple[str, ...], Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.is_dir():
            if entry.name != "__pycache__":
                found.extend(_templates(entry, (*parts, entry.name)))
        elif entry.name.endswith(_SUFFIX):
            found.append(((*parts, entry.name), entry))
    return found


__all__ = ["ScaffoldError", "check_name", "new_plugin"]
