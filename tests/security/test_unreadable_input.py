"""Input that cannot even be read is the sender's fault: a 4xx or exit 2, never a 500 or exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp

from hashcart.testing import running_hashcart

NOT_A_FORM = [
    ("application/x-www-form-urlencoded", b"name=\xff\xfe&password=x"),
    ("multipart/form-data", b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\nb\r\n--x--"),
    ("multipart/form-data; boundary=wrong", b"--x\r\n\r\n--x--"),
]


async def test_a_form_body_that_is_no_form_gets_400_on_every_form_route() -> None:
    async with running_hashcart(with_amazon=False) as hc, aiohttp.ClientSession() as http:
        for path in ("/signin", "/signup", "/signout", "/cart/remove"):
            for content_type, body in NOT_A_FORM:
                async with http.post(
                    f"{hc.url}{path}", data=body, headers={"Content-Type": content_type}
                ) as response:
                    assert response.status == 400, (path, content_type, response.status)
                    error = (await response.json())["error"]
                    assert error["code"] == "bad_form"


def test_a_catalog_nested_too_deep_is_bad_usage(tmp_path: Path) -> None:
    catalog = tmp_path / "deep.json"
    catalog.write_text("[" * 100_000 + "]" * 100_000)
    result = subprocess.run(
        [sys.executable, "-m", "hashcart", "catalog", "import", str(catalog)],
        env={
            **os.environ,
            "HASHCART_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
            "HASHCART_LOAD_PLUGINS": "",
            "HASHCART_CONFIG": str(tmp_path / "absent.toml"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
