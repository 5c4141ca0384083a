import logging

from hashcart import CartCommand, Outcome, hookimpl

audit = logging.getLogger("audit")


@hookimpl
def hashcart_command_done(command: CartCommand, outcome: Outcome) -> None:
    audit.info("%s %s -> %s", command.event_key, command.action, outcome.code)
