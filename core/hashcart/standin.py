"""What any platform's stand-in offers the playground and the cluster harness.

It lives outside the test kit so that the hook specification can name it without production
code importing test code.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Standin(Protocol):
    #: The platform it plays (a plugin's `Platform.name`, or the plugin's name).
    platform: str

    async def start(self) -> object: ...

    async def stop(self) -> None: ...

    def plugin_env(self) -> dict[str, str]:
        """The settings that point the plugin at this stand-in (once it has started)."""
        ...
