"""Local stand-ins: fake servers that real client libraries accept.

The platform-neutral ones live here (OAuth 2.0 and OpenID Connect sign-in, a shop's order API).
Each platform's stand-in ships with its plugin, in `hashcart_<name>.testing`; the playground and
the cluster harness get them through the `hashcart_standins` hook, so the core imports no plugin
and production imports no test code: a plugin's `testing` package is imported only here, when a
stand-in is asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from typing import Any

import pluggy

from hashcart import hookspecs
from hashcart.plugins import ENTRY_POINT_GROUP
from hashcart.standin import Standin

TEST_KIT = "testing"

__all__ = ["TEST_KIT", "Standin", "load_standins"]


def load_standins(names: Iterable[str] | None = None) -> dict[str, Any]:
    """New, unstarted stand-ins offered by the installed plugins' test kits, by platform.

    `names` limits the plugins asked (entry point names); a plugin without a `testing` package
    offers none. The values are typed `Any`: beyond `Standin`, callers use what the one
    platform's stand-in offers (posting a tweet, typing a slash command)."""
    from importlib.metadata import entry_points

    allow = None if names is None else set(names)
    manager = pluggy.PluginManager("hashcart")
    manager.add_hookspecs(hookspecs)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if allow is not None and ep.name not in allow:
            continue
        kit = f"{ep.module}.{TEST_KIT}"
        if importlib.util.find_spec(ep.module) is None or importlib.util.find_spec(kit) is None:
            continue
        manager.register(importlib.import_module(kit), name=ep.name)
    found: dict[str, Any] = {}
    for offered in manager.hook.hashcart_standins():
        for standin in offered if isinstance(offered, list | tuple) else [offered]:
            assert isinstance(standin, Standin), f"{standin!r} is no Standin"
            found[standin.platform] = standin
    return found
