"""The platform classes the installed plugins define, found by shape without creating a platform
(that needs credentials), so that what each declares is checked and documented for all of them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from importlib.metadata import entry_points

from hashcart.commands import Action
from hashcart.plugins import ENTRY_POINT_GROUP

_METHODS = ("start", "stop", "send_reply")


def platform_classes() -> list[type]:
    """Every class shaped like a `hashcart.Platform` in an installed plugin, its test kit aside."""
    found: dict[str, type] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        package = importlib.import_module(ep.value.split(":")[0])
        modules = [package]
        for info in pkgutil.walk_packages(getattr(package, "__path__", []), package.__name__ + "."):
            if ".testing" not in info.name and not info.name.endswith(".standin"):
                modules.append(importlib.import_module(info.name))
        for module in modules:
            for cls in vars(module).values():
                if _is_platform(cls) and cls.__module__ == module.__name__:
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return sorted(found.values(), key=lambda cls: str(getattr(cls, "name", "")))


def _is_platform(value: object) -> bool:
    return (
        inspect.isclass(value)
        and isinstance(getattr(value, "name", None), str)
        and all(callable(getattr(value, method, None)) for method in _METHODS)
    )


def undeclared(platform: type) -> list[Action]:
    """The actions `platform` neither maps to how they are written nor declares unsupported."""
    commands = getattr(platform, "commands", {})
    return [action for action in Action if action not in commands]
