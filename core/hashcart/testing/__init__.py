"""The test kit for hashcart and its plugins (a pytest plugin, loaded automatically).

`running_hashcart` starts a real server on a temporary database with the plugins you choose;
each platform plugin's `testing` package plays its platform
(`hashcart_twitter.testing.XStandin`, ...); `hashcart.testing.standins` holds the neutral ones.
"""

from hashcart.testing.harness import (
    ADMIN_TOKEN,
    SESSION_SECRET,
    RunningHashcart,
    eventually,
    running_hashcart,
)
from hashcart.testing.orders import TakesOrders

__all__ = [
    "ADMIN_TOKEN",
    "SESSION_SECRET",
    "RunningHashcart",
    "TakesOrders",
    "eventually",
    "running_hashcart",
]
