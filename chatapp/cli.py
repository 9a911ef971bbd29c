"""The ``chatapp`` command: serve (the default) and the operator's subcommands.

Logging is configured here and only here. Start-up failures (an unwritable database, a
database from a newer chatapp) end in one clear line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from collections.abc import Sequence

from aiohttp import web

from . import settings as settings_mod
from .app import create_app
from .migrate import MigrationError

log = logging.getLogger("chatapp")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatapp", description="A small self-hosted chat server.")
    settings_mod.add_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="run the server (the default)")
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def serve(settings: settings_mod.Settings) -> int:
    try:
        import uvloop  # optional: a faster event loop when installed
    except ImportError:
        uvloop = None
    app = create_app(settings)
    log.info("serving http://%s:%s with database %s", settings.host, settings.port, settings.db)
    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            shutdown_timeout=settings.shutdown_timeout,
            print=None,
            access_log=None,
            loop=uvloop.new_event_loop() if uvloop is not None else None,
        )
    except (sqlite3.Error, MigrationError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = settings_mod.load(args=args)
    _configure_logging(settings.log_level)
    if args.command in (None, "serve"):
        return serve(settings)
    raise AssertionError(args.command)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
