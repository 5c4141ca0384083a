"""The plugin manager: entry points, explicit plugins, and calling hooks that may be async."""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from hashcart import hookspecs
from hashcart.commands import Action
from hashcart.platform import answers_for
from hashcart.version import __version__

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "hashcart.plugins"

#: The core's own hook implementations, loaded like any plugin and always present.
DEFAULT_PLUGINS = ("hashcart.catalog", "hashcart.replies", "hashcart.policy")


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    error: str | None = None


async def await_me_maybe(value: Any) -> Any:
    """Hook implementations may be `async def`; pluggy returns their coroutines unawaited."""
    if inspect.isawaitable(value):
        return await value
    return value


class PluginManager:
    """One pluggy manager for the core's defaults, installed entry points and explicit plugins."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("hashcart")
        self.pm.add_hookspecs(hookspecs)
        self.failed: dict[str, str] = {}
        self._order: dict[str, list[Any]] = {}
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        for module_name in DEFAULT_PLUGINS:
            self.pm.register(importlib.import_module(module_name), name=module_name)

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def load_entry_points(self, allow: set[str] | None = None) -> None:
        """Load installed plugins (`allow` limits them by name); a broken one is reported."""
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if allow is not None and ep.name not in allow:
                continue
            if self.pm.has_plugin(ep.name):
                continue
            dist = ep.dist
            self._dists[ep.name] = (dist.name if dist else None, dist.version if dist else None)
            try:
                plugin = ep.load()
            except Exception as exc:  # a plugin's import error must not stop the rest
                self.failed[ep.name] = f"{type(exc).__name__}: {exc}"
                log.error("plugin %s failed to load: %s", ep.name, self.failed[ep.name])
                continue
            self.pm.register(plugin, name=ep.name)
        self.pm.check_pending()
        self._order.clear()

    def register(self, plugins: Iterable[object]) -> None:
        for plugin in plugins:
            name = getattr(plugin, "__name__", None) or f"plugin-{id(plugin)}"
            if not self.pm.is_registered(plugin):
                self.pm.register(plugin, name=name)
        self.pm.check_pending()
        self._order.clear()

    def infos(self) -> list[PluginInfo]:
        rows: list[PluginInfo] = []
        for name, plugin in self.pm.list_name_plugin():
            if name in DEFAULT_PLUGINS:
                dist, version = "hashcart", __version__
            else:
                dist, version = self._dists.get(name, (None, getattr(plugin, "__version__", None)))
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
            rows.append(PluginInfo(name, dist, version, hooks))
        for name, error in self.failed.items():
            rows.append(PluginInfo(name, *self._dists.get(name, (None, None)), (), error))
        return rows

    def _implementations(self, hook_name: str) -> list[Any]:
        found = self._order.get(hook_name)
        if found is None:
            # pluggy keeps them in reverse call order (tryfirst last); wrappers are not ours.
            impls = reversed(getattr(self.pm.hook, hook_name).get_hookimpls())
            found = self._order[hook_name] = [i for i in impls if not (i.hookwrapper or i.wrapper)]
        return found

    def implemented(self, hook_name: str) -> bool:
        return bool(self._implementations(hook_name))

    def _called(self, hook_name: str, kwargs: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
        """(implementation, what it returned) for each implementation in turn, called only when
        the one before was consumed; one marked `hashcart.for_platform` answers only its
        platform's commands."""
        command = kwargs.get("command")
        for impl in self._implementations(hook_name):
            if answers_for(impl.function, command):
                yield impl, impl.function(**{n: kwargs[n] for n in impl.argnames if n in kwargs})

    async def first(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a hook implementation by implementation until one gives a non-None result.

        pluggy's own `firstresult` stops at the first non-None *return value*, which for an
        async implementation is its coroutine; so the core walks the implementations itself.
        """
        for _, returned in self._called(hook_name, kwargs):
            result = await await_me_maybe(returned)
            if result is not None:
                return result
        return None

    def each(self, hook_name: str, **kwargs: Any) -> list[tuple[object, Any]]:
        """Call every implementation of a synchronous hook: (plugin, result) per non-None one."""
        called = self._called(hook_name, kwargs)
        return [(impl.plugin, result) for impl, result in called if result is not None]

    def call_each(
        self, hook_name: str, own: Callable[[object], dict[str, Any]], **kwargs: Any
    ) -> None:
        """Call every implementation of a synchronous hook, adding `own(plugin)` to the
        arguments: what belongs to that plugin alone (the platform it declared)."""
        for impl in self._implementations(hook_name):
            given = {**kwargs, **own(impl.plugin)}
            impl.function(**{name: given[name] for name in impl.argnames if name in given})

    async def collect(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call every implementation and await what needs awaiting; None results are dropped."""
        results = [await await_me_maybe(result) for _, result in self._called(hook_name, kwargs)]
        return [result for result in results if result is not None]


_METHODS = ("start", "stop", "send_reply")


def platform_classes() -> list[type]:
    """Every class shaped like a `hashcart.Platform` in an installed plugin, its test kit aside:
    found without creating a platform (that needs credentials), so that what each declares is
    checked and documented for all of them."""
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
