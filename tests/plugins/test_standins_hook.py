"""The plugins' stand-ins reach the playground and the cluster harness through
`hashcart_standins`, and production never loads them."""

from __future__ import annotations

import subprocess
import sys

from hashcart.testing.standins import Standin, load_standins

PLATFORMS = {"twitter", "slack", "discord", "mastodon", "shop"}


async def test_each_plugin_offers_a_stand_in_that_points_it_at_itself() -> None:
    standins = load_standins()
    assert set(standins) >= PLATFORMS
    for platform, standin in standins.items():
        assert isinstance(standin, Standin) and standin.platform == platform
        await standin.start()
        try:
            env = standin.plugin_env()
            assert env and all(key.startswith("HASHCART_") for key in env)
            assert any("127.0.0.1" in value for value in env.values()), platform
        finally:
            await standin.stop()


def test_asked_by_name_only_those_plugins_are_asked() -> None:
    assert set(load_standins(["slack"])) == {"slack"}


def test_loading_the_plugins_as_a_server_does_imports_no_test_kit() -> None:
    code = (
        "import sys\n"
        "from hashcart.plugins import PluginManager\n"
        "PluginManager().load_entry_points()\n"
        "kits = sorted(m for m in sys.modules if m.startswith('hashcart_') and '.testing' in m)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('hashcart_'))\n"
        "assert loaded and not kits, (loaded, kits)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
