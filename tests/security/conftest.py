from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HASHCART = [sys.executable, "-m", "hashcart"]


def run_hashcart(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`hashcart ARGS` as an operator runs it, with only hashcart's variables from `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HASHCART_")}
    return subprocess.run(
        HASHCART + args, env={**clean, **env}, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        "HASHCART_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "HASHCART_LOAD_PLUGINS": "",
        "HASHCART_CONFIG": str(tmp_path / "absent.toml"),
        "HASHCART_PORT": "0",
    }
