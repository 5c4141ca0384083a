"""`hashcart serve` runs on uvloop unless told not to."""

from __future__ import annotations

import asyncio
import sys

import pytest

from hashcart.errors import ConfigError
from hashcart.loop import run


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_auto_runs_on_uvloop_where_installed() -> None:
    pytest.importorskip("uvloop")
    assert run(_loop_module(), "auto").startswith("uvloop")


def test_asyncio_turns_uvloop_off() -> None:
    assert run(_loop_module(), "asyncio").startswith("asyncio")


def test_auto_falls_back_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert run(_loop_module(), "auto").startswith("asyncio")


def test_asking_for_a_missing_uvloop_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    with pytest.raises(ConfigError, match="HASHCART_EVENT_LOOP"):
        run(_loop_module(), "uvloop")
