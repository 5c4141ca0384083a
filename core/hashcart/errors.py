"""Errors the core raises across its public API."""


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the variable in one line."""


class Unavailable(Exception):
    """The command could not be recorded (the database, or the live source of its product, is
    down or throttling): nothing was applied, and a webhook answers 503 so it is delivered again."""


class NotFound(Exception):
    """The account, identity or product asked for does not exist."""


class Conflict(Exception):
    """The request contradicts what is stored (a taken name, an identity linked elsewhere)."""
