"""Settings: every knob the server has, declared once with its default, help text and parser.

The :class:`Settings` dataclass is the one declaration: each field carries its help and the
parser that turns a ``CHATAPP_<NAME>`` environment variable or a ``--<name>`` flag into a
checked value. :data:`SETTINGS`, the argparse flags and the README's settings table (checked
by a test) are all derived from it, so a setting cannot be added in one place and forgotten
in another. A value that cannot be used is refused at start with one line naming where it
came from, never quietly replaced by the default. The parsers are in
:mod:`chatapp.settingvalues`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .settingvalues import (
    addresses,
    at_least_zero,
    contact,
    host_names,
    lower_choice,
    one_of,
    origin,
    origins,
    postgres_url,
    redis_server_url,
    seconds,
    switch,
    whole,
)

T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SYNCHRONOUS_MODES = ("FULL", "NORMAL", "EXTRA")


class SettingError(ValueError):
    """A setting's value cannot be used; the message is one line naming the variable or flag."""


def setting(default: T, help: str, parse: Callable[[str], T] | None = None) -> T:
    """One field of :class:`Settings`: its default, its help, and how its text is read.

    Text and on/off settings need no parser of their own; every number names its range.
    """
    reader: Callable[[str], Any] | None = parse
    if reader is None:
        if isinstance(default, bool):
            reader = switch
        elif isinstance(default, str):
            reader = str
        else:
            raise TypeError(f"a {type(default).__name__} setting needs a parser that checks its range")
    return dataclasses.field(default=default, metadata={"help": help, "parse": reader})


@dataclasses.dataclass(frozen=True)
class Settings:
    """The server's configuration: one field per setting, in the order ``--help`` and the README list them."""

    host: str = setting("127.0.0.1", "Address to listen on.")
    port: int = setting(8080, "TCP port to listen on.", whole(0, 65535))
    db: str = setting("chat.db", "Path of the SQLite database file (created if missing).")
    database_url: str = setting(
        "",
        "PostgreSQL instead of the SQLite file: postgresql://user:password@host:5432/dbname (the database "
        "must exist; its schema is made and migrated at start). Several chatapp processes may share one.",
        postgres_url,
    )
    log_level: str = setting("INFO", "Logging level: DEBUG, INFO, WARNING or ERROR.", one_of(*LOG_LEVELS))
    synchronous: str = setting(
        "FULL",
        "SQLite synchronous mode for the WAL: FULL survives power loss, NORMAL only "
        "process crashes but commits faster.",
        one_of(*SYNCHRONOUS_MODES),
    )
    busy_timeout: float = setting(
        5.0,
        "Seconds a database write waits for a lock held by another process before it "
        "fails; the sender then gets a not_stored error.",
        seconds,
    )
    max_db_mb: int = setting(
        0,
        "Storage ceiling in MiB for the database and its WAL; past it new messages are refused "
        "(error storage_full) while reading goes on. 0 means no ceiling.",
        whole(0),
    )
    min_free_mb: int = setting(
        100,
        "Free disk space in MiB below which new messages are refused (error storage_full), so chat "
        "never fills the disk. 0 turns the check off.",
        whole(0),
    )
    max_upload_mb: int = setting(
        10,
        "Largest file a member may attach to a message, in MiB; a larger upload is cut off as it "
        "streams in (413, error file_too_large). 0 turns uploads off.",
        whole(0, 512),
    )
    history_size: int = setting(50, "Messages rendered on a room page before JavaScript runs.", whole(0))
    heartbeat: float = setting(
        30.0,
        "Seconds between WebSocket pings; a peer that misses one pong, or takes nothing sent to it for "
        "this long, is dropped. 0 turns pings off (a stuck peer is then dropped after 30 s).",
        seconds)
    send_queue: int = setting(
        1024,
        "Frames queued for one connection before it counts as lagging and is closed (1008); "
        "keep it above 512, as one write batch of up to 256 messages arrives at once.",
        whole(1),
    )
    msg_rate: float = setting(
        5.0,
        "Messages per second one connection may send on average; 0 turns rate limiting off.",
        at_least_zero("messages per second"),
    )
    msg_burst: int = setting(20, "Messages one connection may send at once before the rate applies.", whole(1))
    address_rate: float = setting(
        10.0,
        "Messages per second one client address may send on average across all its sockets; a message "
        "costs one more for each 1,000 characters. 0 turns the limit off.",
        at_least_zero("messages per second"),
    )
    address_burst: int = setting(
        50, "Messages one client address may send at once, across its sockets, before its rate applies.",
        whole(1))
    room_rate: float = setting(
        6.0,
        "New rooms per minute one client address may create on average (a message to a room "
        "nobody has posted in creates it; past the limit it gets error room_limit); 0 turns the limit off.",
        at_least_zero("rooms per minute"),
    )
    room_burst: int = setting(10, "New rooms one client address may create at once before the rate applies.",
                              whole(1))
    search_rate: float = setting(
        1.0,
        "Searches per second one client address may run on average (past it: 429); 0 turns the limit off.",
        at_least_zero("searches per second"),
    )
    search_burst: int = setting(10, "Searches one client address may run at once before the rate applies.",
                                whole(1))
    max_connections: int = setting(
        20000, "WebSocket connections the server holds in total; 0 means no cap.", whole(0))
    max_connections_per_ip: int = setting(
        50, "WebSocket connections from one client address; 0 means no cap.", whole(0))
    trusted_proxies: tuple[str, ...] = setting(
        (),
        "Comma-separated proxy addresses whose X-Forwarded-For header is believed "
        "(for per-address limits and the audit log).",
        addresses,
    )
    public_origin: str = setting(
        "",
        "The origin browsers use to reach the server, e.g. https://chat.example.org, "
        "when it sits behind a reverse proxy.",
        origin,
    )
    allowed_origins: tuple[str, ...] = setting(
        (), "Comma-separated extra origins allowed to open WebSockets.", origins)
    allowed_hosts: tuple[str, ...] = setting(
        (),
        "Comma-separated host names the server answers to besides localhost, IP addresses and the "
        "public origin's; requests for any other Host get 421 (against DNS rebinding).",
        host_names,
    )
    request_timeout: float = setting(
        15.0,
        "Seconds a connection may take to send a request's headers, or stay idle between requests, "
        "before it is closed.",
        seconds,
    )
    shutdown_timeout: float = setting(10.0, "Seconds a graceful shutdown waits for work in flight.", seconds)
    admin_password: str = setting(
        "", "Admin password; when empty a strong one is generated at start and logged once.")
    # Its format is checked where the key is made (sessions.fernet_from_setting), before serving.
    secret: str = setting(
        "",
        "Key for the admin session cookie (32 url-safe base64 bytes); when empty one is "
        "generated once and kept in <db>.secret beside the database.",
    )
    secure_cookies: bool = setting(
        False, "Mark cookies Secure even when requests arrive over plain HTTP (TLS ended at a proxy).")
    access: str = setting(
        "open",
        "Who may read and write: open lets guests in as before; members answers only the login, "
        "signup and join pages (and /healthz, static files) without a member session.",
        lower_choice("open", "members"),
    )
    signup: str = setting(
        "open",
        "Who may make an account: open (anyone, at /signup), invite (only through a join link an "
        "admin made) or closed (only admins create accounts).",
        lower_choice("open", "invite", "closed"),
    )
    bot_rate: float = setting(
        1.0,
        "Messages per second one bot may post on average, through the API and as webhook replies "
        "(past it: 429 with Retry-After); 0 turns the limit off.",
        at_least_zero("messages per second"),
    )
    bot_burst: int = setting(10, "Messages one bot may post at once before its rate applies.", whole(1))
    webhook_timeout: float = setting(
        5.0,
        "Seconds one webhook delivery may take, connecting and answering included, before it is retried; "
        "0 means no limit.",
        seconds)
    webhook_allow_private: bool = setting(
        False,
        "Let bot webhooks reach loopback, private, link-local and other non-public addresses "
        "(refused by default, against server-side request forgery).")
    here_interval: float = setting(
        60.0,
        "Seconds between two @here mentions from one member that notify anyone; a sooner @here is "
        "still sent, but reaches nobody as a mention. 0 means no limit.",
        seconds)
    # Its format is checked where the key is loaded (push.vapid.key_from_setting), before serving.
    vapid_private_key: str = setting(
        "",
        "Web Push (VAPID) private key: PEM, or the raw 32 bytes in url-safe base64; when empty one "
        "is generated once and kept in <db>.vapid beside the database.")
    vapid_subject: str = setting(
        "",
        "Contact that push services are given with every Web Push: a mailto: address or an https:// "
        "URL; when empty, the public origin if it is https, else mailto:chatapp@localhost.",
        contact)
    push_allow_private: bool = setting(
        False,
        "Let Web Push subscriptions name plain http:// endpoints and loopback, private and other "
        "non-public addresses (refused by default, against server-side request forgery).")
    redis_url: str = setting(
        "",
        "Redis for presence and typing across the nodes of a cluster (redis://host:6379/0); only with "
        "database_url. Chat never goes through it; when empty, each node shows its own presence.",
        redis_server_url)

    @property
    def db_path(self) -> Path:
        return Path(self.db)

    @property
    def storage_target(self) -> str:
        """What :func:`chatapp.storage.open_storage` opens: the PostgreSQL URL if set, else the file."""
        return self.database_url or self.db

    @property
    def storage_label(self) -> str:
        """:attr:`storage_target` as it may be logged: a URL's password left out."""
        if not self.database_url:
            return self.db
        parts = urlsplit(self.database_url)
        if parts.password is None:
            return self.database_url
        host = parts.netloc.rpartition("@")[2]
        return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting as the command line, the environment and the README see it."""

    name: str
    default: Any
    help: str
    parse: Callable[[str], Any]

    @property
    def env(self) -> str:
        return "CHATAPP_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def is_switch(self) -> bool:
        """On/off settings are plain flags: ``--name`` and ``--no-name``."""
        return isinstance(self.default, bool)

    @property
    def flags(self) -> tuple[str, ...]:
        return (self.flag, "--no-" + self.flag[2:]) if self.is_switch else (self.flag,)

    @property
    def shown_default(self) -> str:
        if self.default == ():
            return "(none)"
        if self.default == "":
            return "(empty)"
        return str(self.default)


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, f.default, f.metadata["help"], f.metadata["parse"]) for f in dataclasses.fields(Settings)
)

_BY_NAME = {s.name: s for s in SETTINGS}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` one flag per setting; unset flags stay ``None``, so the environment applies."""
    for s in SETTINGS:
        help = f"{s.help} [env {s.env}; default {s.shown_default}]".replace("%", "%%")
        if s.is_switch:
            parser.add_argument(s.flag, dest=s.name, action=argparse.BooleanOptionalAction, default=None,
                                help=help)
        else:
            parser.add_argument(s.flag, dest=s.name, default=None, metavar=s.name.upper(), help=help)


def load(env: Mapping[str, str] | None = None, args: argparse.Namespace | None = None) -> Settings:
    """Settings from defaults, then ``CHATAPP_*`` variables, then command-line flags.

    Raises :class:`SettingError` naming the variable or flag whose value cannot be used.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for s in SETTINGS:
        raw = getattr(args, s.name, None) if args is not None else None
        if isinstance(raw, bool):  # a switch given on the command line: already a value
            values[s.name] = raw
            continue
        source = f"{s.flag} {raw!r}"
        if raw is None:
            raw = env.get(s.env)
            source = f"{s.env}={raw!r}"
        if raw is None:
            continue
        try:
            values[s.name] = s.parse(raw)
        except ValueError as exc:
            raise SettingError(f"bad {source}: {exc}") from None
    return Settings(**values)


def describe(name: str) -> Setting:
    return _BY_NAME[name]
