"""The `hashcart` command line. Exit 0 on success, 2 on bad usage or configuration,
1 on any other failure; errors are one line on stderr."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from hashcart.config import Settings, load_settings
from hashcart.errors import ConfigError, Conflict, NotFound
from hashcart.logs import configure as configure_logging
from hashcart.loop import run as run_on_loop
from hashcart.loop import tune_collector

log = logging.getLogger("hashcart")


class UsageError(Exception):
    """Bad input from the command line: exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"hashcart: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hashcart", description="Put products into one cart from chat platforms.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    for name, text in (
        ("serve", "run the server, platforms and reply sender"),
        ("playground", "serve with local X, Slack and Discord stand-ins and /playground"),
    ):
        serving = commands.add_parser(name, help=text)
        serving.add_argument(
            "--no-migrate", action="store_true", help="do not migrate the database first"
        )

    def group(name: str, text: str) -> Any:
        """A command with subcommands of its own, named in `args.<name>_command`."""
        return commands.add_parser(name, help=text).add_subparsers(
            dest=f"{name}_command", required=True, parser_class=_Parser
        )

    group("db", "database maintenance").add_parser(
        "upgrade", help="run migrations to the newest schema"
    )
    load = group("catalog", "the local product catalog").add_parser(
        "import", help="load products from JSON or CSV"
    )
    load.add_argument("file", type=Path)
    account_commands = group("accounts", "operator shortcuts for accounts")
    create = account_commands.add_parser("create", help="create an account")
    create.add_argument("name")
    password = account_commands.add_parser(
        "password", help="set an account's web password (read from standard input)"
    )
    password.add_argument("name")
    link = account_commands.add_parser("link", help="link a platform identity to an account")
    link.add_argument("name")
    link.add_argument("platform")
    link.add_argument("user_id")

    commands.add_parser(
        "plugins", help="list plugins: distribution, version, hooks, configuration complete"
    )
    new_plugin = commands.add_parser(
        "new-plugin", help="write a ready-to-install plugin distribution into ./hashcart-NAME/"
    )
    new_plugin.add_argument("name", help="the plugin's name, e.g. mastodon")
    new_plugin.add_argument(
        "--directory", type=Path, default=Path("."), help="where to create it (default: here)"
    )
    commands.add_parser("doctor", help="check each enabled platform")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        if args.command in ("serve", "playground"):
            choice = load_settings(Settings).event_loop
            code = run_on_loop(_dispatch(args), choice)
        else:
            code = asyncio.run(_dispatch(args))
    except (ConfigError, UsageError) as exc:
        print(f"hashcart: {exc}", file=sys.stderr)
        code = 2
    except (NotFound, Conflict) as exc:
        print(f"hashcart: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:
        print(f"hashcart: {_one_line(exc)}", file=sys.stderr)
        code = 1
    sys.exit(code)


def _one_line(exc: BaseException) -> str:
    """An unexpected error as one line without values: a database error's text would otherwise
    carry its statement, and a client error the URL with its token."""
    from hashcart.scrub import scrub
    from hashcart.store.db import describe_failure

    return scrub(describe_failure(exc))


async def _dispatch(args: argparse.Namespace) -> int:
    settings = load_settings(Settings)
    configure_logging(settings.log_level, settings.log_format)
    if args.command in ("serve", "doctor"):
        from hashcart.web.session import WebSettings

        load_settings(WebSettings)  # a weak session secret fails here, before anything starts
    if args.command == "db":
        from hashcart.store import upgrade

        await upgrade(settings.database_url)
        print("database is at the newest schema")
        return 0
    if args.command == "serve":
        return await serve(settings, migrate=not args.no_migrate)
    if args.command == "playground":
        return await _playground(migrate=not args.no_migrate)
    if args.command == "new-plugin":
        from hashcart.scaffold import new_plugin

        target = new_plugin(args.name, args.directory)
        print(f"wrote {target}; next: pip install -e '{target}[test]' && pytest {target}")
        return 0
    from hashcart.app import Hashcart

    hashcart = Hashcart(settings)
    try:
        if args.command == "catalog":
            return await _import_catalog(hashcart, args.file)
        if args.command == "accounts":
            return await _accounts(hashcart, args)
        if args.command == "plugins":
            return _plugins(hashcart)
        if args.command == "doctor":
            return await _doctor(hashcart)
    finally:
        await hashcart.stop()
    raise UsageError(f"unknown command {args.command}")


async def serve(
    settings: Settings, *, migrate: bool = True, extra_plugins: Sequence[object] = ()
) -> int:
    """Run until SIGTERM/SIGINT: stop accepting, finish what was accepted, exit 0."""
    from hashcart.app import Hashcart
    from hashcart.store import upgrade
    from hashcart.web import serving

    if migrate:
        await upgrade(settings.database_url)
    hashcart = Hashcart(settings, plugins=extra_plugins)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serving(hashcart, settings.host, settings.port):
        tune_collector()
        platforms = ", ".join(hashcart.platforms) or "none"
        log.info(
            "hashcart serving on http://%s:%s (platforms: %s)",
            settings.host,
            settings.port,
            platforms,
        )
        await stop.wait()
        log.info("stopping: no new requests, finishing accepted commands")
    return 0


async def _playground(*, migrate: bool) -> int:
    """`serve` with the platform plugins pointed at local stand-ins (set before the Hashcart is
    built, so the real plugins read them as ordinary settings)."""
    from hashcart.web.playground import Playground

    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # the stand-ins' request logs

    async with Playground() as playground:
        os.environ.update(playground.env())
        settings = load_settings(Settings)
        log.info("playground: open %s/playground", settings.public_url)
        return await serve(settings, migrate=migrate, extra_plugins=[playground])


def _read_catalog(path: Path) -> list[dict[str, Any]]:
    from pydantic import ValidationError

    from hashcart.web.admin import PRODUCT_ID, ProductIn

    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    rows: list[tuple[str, dict[str, Any]]] = []
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            expected = ["product_id", "title", "price_cents", "currency", "available"]
            if reader.fieldnames != expected:
                raise UsageError(f"{path}: line 1: the header must be {','.join(expected)}")
            for line, row in enumerate(reader, start=2):
                available = str(row.get("available", "")).strip().lower()
                if available not in ("true", "false", "1", "0", "yes", "no"):
                    raise UsageError(f"{path}: line {line}: available must be true or false")
                row["available"] = available in ("true", "1", "yes")
                rows.append((f"line {line}", row))
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            raise UsageError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(data, list):
            raise UsageError(f"{path}: the JSON must be a list of products")
        rows = [(f"item {index}", item) for index, item in enumerate(data, start=1)]
    products = []
    for where, row in rows:
        if not isinstance(row, dict):
            raise UsageError(f"{path}: {where}: not an object")
        fields = dict(row)
        product_id = str(fields.pop("product_id", "") or "")
        if not re.fullmatch(PRODUCT_ID, product_id):
            raise UsageError(f"{path}: {where}: product_id must look like store:sku")
        try:
            product = ProductIn.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise UsageError(
                f"{path}: {where}: {'.'.join(map(str, first['loc']))}: {first['msg']}"
            ) from None
        products.append({"product_id": product_id, **product.model_dump()})
    return products


async def _import_catalog(hashcart: Any, path: Path) -> int:
    from hashcart.catalog import CatalogEntry

    result = await hashcart.catalog.upsert(CatalogEntry(**p) for p in _read_catalog(path))
    created = sum(result.values())
    print(f"imported {len(result)} products ({created} new, {len(result) - created} updated)")
    return 0


async def _accounts(hashcart: Any, args: argparse.Namespace) -> int:
    if args.accounts_command == "create":
        print((await hashcart.accounts.create(args.name))["id"])
        return 0
    found = await hashcart.accounts.find(name=args.name)
    if not found:
        raise NotFound(f"no account named {args.name!r}")
    if args.accounts_command == "password":
        return await _set_password(hashcart, found[0]["id"])
    await hashcart.start()
    applied = await hashcart.link_identity(found[0]["id"], args.platform, args.user_id)
    print(
        f"linked {args.platform} user {args.user_id} to {args.name}; "
        f"{len(applied)} pending adds applied"
    )
    return 0


async def _set_password(hashcart: Any, account_id: str) -> int:
    from hashcart.web.auth import MAX_PASSWORD, MIN_PASSWORD, hash_password

    if sys.stdin.isatty():
        import getpass

        given = getpass.getpass("new password: ")
    else:
        given = sys.stdin.readline().rstrip("\n")
    if not MIN_PASSWORD <= len(given) <= MAX_PASSWORD:
        raise UsageError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    await hashcart.accounts.set_password(account_id, await hash_password(given))
    print("password set")
    return 0


def _plugins(hashcart: Any) -> int:
    for info in hashcart.plugins.infos():
        origin = f"{info.distribution or '?'} {info.version or ''}".strip()
        if info.error:
            print(f"{info.name}  ({origin})  FAILED: {info.error}")
        else:
            print(f"{info.name}  ({origin})")
            print(f"    hooks: {', '.join(info.hooks) or '-'}")
            print(f"    configuration: {_configuration(hashcart, info.name)}")
    return 0


def _configuration(hashcart: Any, name: str) -> str:
    """Whether a plugin has what it needs: a platform plugin is complete when it declares its
    platform, which it does once its credentials are set; the unset variables are the hint."""
    plugin = hashcart.plugins.pm.get_plugin(name)

    def own(hook: str) -> Any:
        caller = getattr(hashcart.plugins.pm.hook, hook)
        return next((i.function for i in caller.get_hookimpls() if i.plugin is plugin), None)

    settings_hook = own("hashcart_settings")
    model = settings_hook() if settings_hook is not None else None
    unset: list[str] = []
    try:
        if model is not None:
            prefix = str(model.model_config.get("env_prefix", "")).upper()
            unset = [prefix + f.upper() for f, v in hashcart.settings_for(model) if v is None]
        platform_hook = own("hashcart_platform")
        if platform_hook is None:
            if model is None:
                return "nothing to configure"
            # A store plugin works without its optional parts (live lookups need credentials).
            return f"complete (optional, unset: {', '.join(unset)})" if unset else "complete"
        if platform_hook(hashcart=hashcart) is not None:
            return "complete"
    except ConfigError as exc:
        return f"INCOMPLETE: {exc}"
    hint = f" (unset: {', '.join(unset)})" if unset else ""
    return f"INCOMPLETE: its platform stays off until its credentials are set{hint}"


async def _doctor(hashcart: Any) -> int:
    rows: list[tuple[str, bool, str]] = []
    try:
        async with hashcart.engine.connect() as conn:
            import sqlalchemy as sa

            await conn.execute(sa.text("SELECT 1"))
        rows.append(("database", True, hashcart.settings.database_url.split("@")[-1]))
    except Exception as exc:
        rows.append(("database", False, _one_line(exc)))
    for result in await hashcart.plugins.collect("hashcart_doctor", hashcart=hashcart):
        rows.extend(result)
    for check, passed, detail in rows:
        print(f"{'ok  ' if passed else 'FAIL'} {check}: {detail}")
    return 0 if all(passed for _, passed, _ in rows) else 1
