"""Discord's checks of registered application commands and of their use, as Discord answers them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from hashcart_discord.testing.wire import _json

OPTION_SUB_COMMAND, OPTION_SUB_COMMAND_GROUP = 1, 2
OPTION_STRING, OPTION_INTEGER, OPTION_BOOLEAN, OPTION_NUMBER = 3, 4, 5, 10
_OPTION_TYPES = range(1, 12)
_CHOICE_TYPES = (OPTION_STRING, OPTION_INTEGER, OPTION_NUMBER)
_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")

Problem = tuple[str, str]  # (where in the body, what is wrong)


def command_problems(commands: Any) -> list[Problem]:
    """Why Discord would refuse `PUT /applications/{id}/commands` with this body; [] if it
    would accept it. A bot whose definition breaks a rule finds out here, not in production."""
    if not isinstance(commands, list):
        return [("", "a list of application commands is expected")]
    problems: list[Problem] = []
    if len(commands) > 100:
        problems.append(("", "at most 100 global commands"))
    names: set[tuple[Any, Any]] = set()
    for index, command in enumerate(commands):
        where = str(index)
        if not isinstance(command, Mapping):
            problems.append((where, "an object is expected"))
            continue
        kind = command.get("type", 1)
        problems += _name_problems(command, where, described=kind == 1)
        if (kind, command.get("name")) in names:
            problems.append((f"{where}.name", "application command names must be unique"))
        names.add((kind, command.get("name")))
        problems += _option_problems(command.get("options") or [], f"{where}.options", depth=0)
    return problems


def _name_problems(item: Mapping[str, Any], where: str, *, described: bool) -> list[Problem]:
    problems: list[Problem] = []
    name = item.get("name")
    if not isinstance(name, str) or not _COMMAND_NAME.match(name) or name != name.lower():
        problems.append((f"{where}.name", f"{name!r}: 1 to 32 lowercase letters, digits, - or _"))
    description = item.get("description", "")
    if described and not (isinstance(description, str) and 1 <= len(description) <= 100):
        problems.append((f"{where}.description", "must be 1 to 100 characters long"))
    return problems


def _option_problems(options: Any, where: str, *, depth: int) -> list[Problem]:
    """`depth` 0 is a command's own options, 1 a sub-command's or a group's, 2 a grouped
    sub-command's: groups sit only at the top, sub-commands only at the top or in a group."""
    if not isinstance(options, list):
        return [(where, "a list of options is expected")]
    problems: list[Problem] = []
    if len(options) > 25:
        problems.append((where, "at most 25 options"))
    kinds = [o.get("type") for o in options if isinstance(o, Mapping)]
    nested = [kind in (OPTION_SUB_COMMAND, OPTION_SUB_COMMAND_GROUP) for kind in kinds]
    if any(nested) and not all(nested):
        problems.append((where, "sub-commands and other options cannot be mixed"))
    optional_seen = False
    names: set[Any] = set()
    for index, option in enumerate(options):
        here = f"{where}.{index}"
        if not isinstance(option, Mapping):
            problems.append((here, "an object is expected"))
            continue
        kind = option.get("type")
        problems += _name_problems(option, here, described=True)
        if option.get("name") in names:
            problems.append((f"{here}.name", "option names must be unique"))
        names.add(option.get("name"))
        if kind not in _OPTION_TYPES:
            problems.append((f"{here}.type", f"{kind!r} is not an option type"))
        elif kind == OPTION_SUB_COMMAND_GROUP:
            children = option.get("options") or []
            if depth > 0:
                problems.append((here, "a sub-command group can only be a command's option"))
            elif not all(isinstance(c, Mapping) and c.get("type") == 1 for c in children):
                problems.append((f"{here}.options", "a group holds only sub-commands"))
            problems += _option_problems(children, f"{here}.options", depth=depth + 1)
        elif kind == OPTION_SUB_COMMAND:
            if depth > 1:
                problems.append((here, "sub-commands nest at most inside one group"))
            problems += _option_problems(option.get("options") or [], f"{here}.options", depth=2)
        else:
            required = bool(option.get("required"))
            if required and optional_seen:
                problems.append((here, "required options must come before optional ones"))
            optional_seen = optional_seen or not required
            choices = option.get("choices")
            if choices and (kind not in _CHOICE_TYPES or len(choices) > 25):
                problems.append((f"{here}.choices", "up to 25, for strings and numbers only"))
    return problems


def _form_error(problems: Iterable[Problem]) -> web.Response:
    """Discord's `Invalid Form Body` (50035), its `errors` keyed by where each problem is."""
    errors: dict[str, Any] = {}
    for where, message in problems:
        entry = errors.setdefault(where or "_root", {"_errors": []})
        entry["_errors"].append({"code": "BASE_TYPE_INVALID", "message": message})
    return _json({"message": "Invalid Form Body", "code": 50035, "errors": errors}, status=400)


def check_command_use(
    registered: Mapping[str, Any], subcommand: str | None, options: Mapping[str, Any]
) -> None:
    """Raise `ValueError` for a use no Discord client could send: a sub-command or an option
    the bot did not register, a required option left out, a value of the wrong type or
    outside the choices. Tests thereby show the bot registered what they use."""
    declared: list[Mapping[str, Any]] = list(registered.get("options") or [])
    label = f"/{registered.get('name')}"
    if subcommand is not None:
        found = next(
            (o for o in declared if o.get("type") == 1 and o.get("name") == subcommand), None
        )
        if found is None:
            known = sorted(str(o.get("name")) for o in declared if o.get("type") == 1)
            raise ValueError(f"{label} has no sub-command {subcommand!r}; registered: {known}")
        declared = list(found.get("options") or [])
        label = f"{label} {subcommand}"
    by_name = {str(o.get("name")): o for o in declared}
    for name, value in options.items():
        option = by_name.get(name)
        if option is None:
            raise ValueError(f"{label} has no option {name!r}; registered: {sorted(by_name)}")
        expected = {OPTION_BOOLEAN: bool, OPTION_INTEGER: int, OPTION_STRING: str}.get(
            int(option.get("type") or 0)
        )
        if expected is not None and (
            not isinstance(value, expected) or (expected is int and isinstance(value, bool))
        ):
            raise ValueError(f"{label} {name}: {value!r} is not a {expected.__name__}")
        choices = [c.get("value") for c in option.get("choices") or ()]
        if choices and value not in choices:
            raise ValueError(f"{label} {name}: {value!r} is not one of {choices}")
    missing = [name for name, o in by_name.items() if o.get("required") and name not in options]
    if missing:
        raise ValueError(f"{label} needs {missing}")
