"""The ``chatapp`` command: serve (the default) and the operator's subcommands.

Logging is configured here and only here. Start-up failures (an unwritable database, a
database from a newer chatapp) end in one clear line and a non-zero exit. ``export``,
``import``, ``backup`` and ``users`` work on the database file directly, beside a running server,
and never start one; they too fail with one line on stderr and a non-zero exit.
``bots`` and ``post`` are :mod:`chatapp.bots.cli`'s (``post`` goes through the running server).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from aiohttp import web

from . import settings as settings_mod
from .accounts import users
from .accounts.users import UsersError
from .app import create_app
from .archive import ExportError, backup, export_to, import_from
from .bots import cli as bots_cli
from .descriptors import raise_open_files_limit
from .storage import StorageError

log = logging.getLogger("chatapp")


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line rather than the whole usage first."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    # No abbreviations: the main parser would read a subcommand's --webhook as an abbreviated
    # --webhook-allow-private (argparse matches prefixes across the whole command line).
    parser = _Parser(prog="chatapp", description="A small self-hosted chat server.", allow_abbrev=False)
    settings_mod.add_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="run the server (the default)")
    export = sub.add_parser("export", help="write a room's history as NDJSON, oldest first")
    export.add_argument("room", metavar="ROOM")
    export.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    imp = sub.add_parser("import", help="add the chat frames of an NDJSON export to the database")
    imp.add_argument("file", metavar="FILE")
    bak = sub.add_parser("backup", help="copy the database consistently, even while it serves")
    bak.add_argument("path", metavar="PATH")
    bak.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    users = sub.add_parser("users", help="members: create, list, reset a password")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    create = users_sub.add_parser("create", help="make a member (password from the terminal or one line of stdin)")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--admin", action="store_true", help="with the admin role")
    users_list = users_sub.add_parser("list", help="every member: name, role, status, joined, last seen")
    reset = users_sub.add_parser("reset", help="print a one-time password-reset link")
    reset.add_argument("name", metavar="NAME")
    bots_cli.add_commands(sub)  # bots create|list|rotate|revoke, and post
    for p in (export, imp, bak, create, users_list, reset):
        # Also accepted after the subcommand; SUPPRESS keeps a --db given before it.
        p.add_argument("--db", dest="db", default=argparse.SUPPRESS,
                       help=settings_mod.describe("db").help)
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,  # one of settings.LOG_LEVELS, checked when the settings were read
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _event_loop() -> asyncio.AbstractEventLoop | None:
    """uvloop when installed (``pip install chatapp[speed]``): the same server, faster I/O."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop()


async def _freeze_heap(app: web.Application) -> None:
    # Everything made at start (modules, templates, settings) lives as long as the
    # process: out of the cyclic collector's full passes, which then only walk what
    # came since.
    gc.freeze()
    # A full pass walks every object of every held socket; at the default (one after 10
    # middle ones) handshakes set them off so often that they were ~30 % of a reconnect
    # storm's CPU. One after 100 middle passes: the middle ones still collect what a
    # closed socket leaves in cycles.
    gc.set_threshold(700, 10, 100)


async def _no_collector(app: web.Application) -> None:
    # The process is about to exit: reference counts free the sockets' objects, and the
    # collector's passes over them were half of a 5,000-socket shutdown (bench storm).
    gc.disable()


def serve(settings: settings_mod.Settings) -> int:
    app = create_app(settings)
    # Only for a served process: the tests run many apps in one.
    app.on_startup.append(_freeze_heap)
    app.on_shutdown.insert(0, _no_collector)
    raise_open_files_limit(settings.max_connections)
    log.info("serving http://%s:%s with database %s", settings.host, settings.port, settings.storage_label)
    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            shutdown_timeout=settings.shutdown_timeout,
            # Also how long a connection may take to send a request's headers: a client
            # that opens connections and never finishes a request cannot hold them long.
            keepalive_timeout=settings.request_timeout,
            # Pages reconnecting after a restart arrive together: aiohttp's default
            # listen backlog of 128 would leave the rest to TCP's retry timers (~1 s).
            backlog=4096,
            print=None,
            access_log=None,
            loop=_event_loop(),
        )
    except (StorageError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


def _export(settings: settings_mod.Settings, room: str, output: str | None) -> str:
    if output is None:
        count = export_to(settings.storage_target, room, sys.stdout.buffer)
        return f"exported {count} messages"
    target = Path(output)
    try:
        with target.open("wb") as f:
            count = export_to(settings.storage_target, room, f)
    except BaseException:
        target.unlink(missing_ok=True)  # no half-written export left behind
        raise
    return f"exported {count} messages to {output}"


def operator_command(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    """Run export, import or backup; one line of outcome, and 1 with one line of error."""
    try:
        if args.command == "export":
            # The data goes to stdout, so the summary goes to stderr.
            print(_export(settings, args.room, args.output), file=sys.stderr)
        elif args.command == "import":
            print(import_from(settings.storage_target, args.file))
        elif args.command == "backup":
            print(backup(settings.storage_target, args.path, force=args.force))
        else:
            raise AssertionError(args.command)
    except (ExportError, StorageError) as exc:
        print(f"chatapp {args.command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"chatapp {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Same password again: ") != first:
            raise UsersError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def users_command(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    """``users create|list|reset``; 1 with one line of error."""
    try:
        if args.users_command == "create":
            member = users.create(settings.storage_target, args.name, _read_password(), admin=args.admin)
            print(f"created {member.role} {member.name}")
        elif args.users_command == "list":
            print(users.listing(settings.storage_target))
        else:
            origin = settings.public_origin or f"http://{settings.host}:{settings.port}"
            print(users.reset(settings.storage_target, args.name, origin))
    except (UsersError, StorageError) as exc:
        print(f"chatapp users {args.users_command}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = settings_mod.load(args=args)
    except settings_mod.SettingError as exc:
        print(f"chatapp: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    if args.command in (None, "serve"):
        return serve(settings)
    if args.command == "users":
        return users_command(args, settings)
    if args.command in bots_cli.COMMANDS:
        return bots_cli.run(args, settings)
    return operator_command(args, settings)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
