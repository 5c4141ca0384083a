"""The `hashcart` command as an operator runs it: exit codes, one-line errors, real effects."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hashcart.testing.harness import free_port

HASHCART = [sys.executable, "-m", "hashcart"]


def run(
    args: list[str], env: dict[str, str], timeout: float = 60, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        HASHCART + args,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "HASHCART_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "HASHCART_LOAD_PLUGINS": "",
        "HASHCART_CONFIG": str(tmp_path / "absent.toml"),
    }


def test_bad_configuration_is_one_line_and_exit_2(env: dict[str, str]):
    for variable, value in [
        ("HASHCART_PORT", "eighty"),
        ("HASHCART_DATABASE_URL", "mysql://x"),
        ("HASHCART_HASHTAG", "#two words"),
        ("HASHCART_RATE_LIMIT_PER_MINUTE", "-1"),
    ]:
        result = run(["db", "upgrade"], {**env, variable: value})
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"hashcart: {variable}:"), result.stderr


def test_bad_usage_exits_2(env: dict[str, str]):
    result = run(["no-such-command"], env)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_toml_file_is_read_and_environment_wins(env: dict[str, str], tmp_path: Path):
    toml = tmp_path / "hashcart.toml"
    toml.write_text('port = "eighty"\n')
    result = run(["db", "upgrade"], {**env, "HASHCART_CONFIG": str(toml)})
    assert result.returncode == 2 and "HASHCART_PORT" in result.stderr
    result = run(["db", "upgrade"], {**env, "HASHCART_CONFIG": str(toml), "HASHCART_PORT": "9000"})
    assert result.returncode == 0, result.stderr


def test_catalog_import_accounts_and_plugins(env: dict[str, str], tmp_path: Path):
    assert run(["db", "upgrade"], env).returncode == 0
    catalog = Path(__file__).parents[2] / "core/hashcart/data/sample_catalog.json"
    result = run(["catalog", "import", str(catalog)], env)
    assert result.returncode == 0, result.stderr
    assert "imported 20 products (20 new, 0 updated)" in result.stdout

    csv_file = tmp_path / "c.csv"
    csv_file.write_text(
        "product_id,title,price_cents,currency,available\n"
        "shop:A1,Mug,100,USD,true\n"
        "shop:A2,Kettle,not-a-number,USD,true\n"
    )
    result = run(["catalog", "import", str(csv_file)], env)
    assert result.returncode == 2
    assert "line 3" in result.stderr and "price_cents" in result.stderr
    bad_json = tmp_path / "c.json"
    bad_json.write_text(json.dumps([{"product_id": "bad", "title": "x", "price_cents": 1}]))
    result = run(["catalog", "import", str(bad_json)], env)
    assert result.returncode == 2 and "item 1" in result.stderr

    result = run(["accounts", "create", "alice"], env)
    assert result.returncode == 0 and len(result.stdout.strip()) == 32
    assert run(["accounts", "create", "alice"], env).returncode == 1
    result = run(["accounts", "password", "alice"], env, stdin="short\n")
    assert result.returncode == 2 and "8 to" in result.stderr
    result = run(["accounts", "password", "alice"], env, stdin="correct horse battery\n")
    assert result.returncode == 0, result.stderr
    assert asyncio.run(_password_works(env, "alice", "correct horse battery"))
    result = run(["accounts", "link", "alice", "twitter", "123"], env)
    assert result.returncode == 0 and "linked twitter user 123 to alice" in result.stdout
    assert run(["accounts", "link", "nobody", "twitter", "1"], env).returncode == 1

    result = run(["plugins"], env)
    assert result.returncode == 0
    assert "hashcart.catalog" in result.stdout and "hashcart_lookup_product" in result.stdout


def test_serve_answers_and_stops_cleanly_on_sigterm(env: dict[str, str]):
    port = free_port()
    process = subprocess.Popen(
        [*HASHCART, "serve"],
        env={**os.environ, **env, "HASHCART_PORT": str(port)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert json.load(r) == {"status": "ok"}
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def _password_works(env: dict[str, str], name: str, password: str) -> bool:
    from hashcart.accounts import Accounts
    from hashcart.store import create_engine
    from hashcart.web.auth import verify_password

    engine = create_engine(env["HASHCART_DATABASE_URL"])
    try:
        login = await Accounts(engine).login_of(name)
    finally:
        await engine.dispose()
    return login is not None and await verify_password(login[1], password)
