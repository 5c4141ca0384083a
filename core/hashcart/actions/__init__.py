"""What each action does to an account and its cart: one handler per `hashcart.Action`.

A handler registers with `handles`, naming the outcome codes it can give. Adding a subcommand
is one module here, its reply texts in the catalogs, and a line in each platform's parser and
`Platform.commands`.
"""

from hashcart.actions import (  # noqa: F401  (registering is importing)
    add,
    checkout,
    clear,
    confirm,
    forget,
    help,
    language,
    link,
    listing,
    privacy,
    remove,
    unlink,
)
from hashcart.actions.base import HANDLERS, Context, Handler, handles
from hashcart.actions.dispatch import decide

__all__ = ["HANDLERS", "Context", "Handler", "decide", "handles"]
