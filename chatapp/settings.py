"""Settings: every knob the server has, declared once with its default and help text.

Each setting is read from a ``CHATAPP_<NAME>`` environment variable, and a command-line
flag of the same name overrides it. The README's settings table is checked against
:data:`SETTINGS` by a test, so a setting cannot be added without being documented.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return "CHATAPP_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _origins(value: str) -> tuple[str, ...]:
    return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())


def _bool(value: str) -> bool:
    if value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if value.strip().lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "127.0.0.1", "Address to listen on."),
    Setting("port", 8080, "TCP port to listen on.", int),
    Setting("db", "chat.db", "Path of the SQLite database file (created if missing)."),
    Setting("log_level", "INFO", "Logging level: DEBUG, INFO, WARNING or ERROR."),
    Setting(
        "synchronous",
        "FULL",
        "SQLite synchronous mode for the WAL: FULL survives power loss, NORMAL only "
        "process crashes but commits faster.",
    ),
    Setting(
        "busy_timeout",
        5.0,
        "Seconds a database write waits for a lock held by another process before it "
        "fails; the sender then gets a not_stored error.",
        float,
    ),
    Setting("history_size", 50, "Messages rendered on a room page before JavaScript runs.", int),
    Setting("heartbeat", 30.0,
            "Seconds between WebSocket pings; a peer that misses one pong is dropped. 0 turns it off.", float),
    Setting("send_queue", 1024,
            "Frames queued for one connection before it counts as lagging and is closed (1008); "
            "keep it above 512, as one write batch of up to 256 messages arrives at once.", int),
    Setting("msg_rate", 5.0,
            "Messages per second one connection may send on average; 0 turns rate limiting off.", float),
    Setting("msg_burst", 20, "Messages one connection may send at once before the rate applies.", int),
    Setting("max_connections", 20000, "WebSocket connections the server holds in total; 0 means no cap.", int),
    Setting("max_connections_per_ip", 50, "WebSocket connections from one client address; 0 means no cap.", int),
    Setting(
        "trusted_proxies",
        (),
        "Comma-separated proxy addresses whose X-Forwarded-For header is believed "
        "(for per-address limits and the audit log).",
        _origins,
    ),
    Setting(
        "public_origin",
        "",
        "The origin browsers use to reach the server, e.g. https://chat.example.org, "
        "when it sits behind a reverse proxy.",
        lambda v: v.strip().rstrip("/"),
    ),
    Setting(
        "allowed_origins",
        (),
        "Comma-separated extra origins allowed to open WebSockets.",
        _origins,
    ),
    Setting("shutdown_timeout", 10.0, "Seconds a graceful shutdown waits for work in flight.", float),
    Setting("admin_password", "", "Admin password; when empty a strong one is generated at start and logged once."),
    Setting(
        "secret",
        "",
        "Key for the admin session cookie (32 url-safe base64 bytes); when empty one is "
        "generated once and kept in <db>.secret beside the database.",
    ),
    Setting("secure_cookies", False,
            "Mark cookies Secure even when requests arrive over plain HTTP (TLS ended at a proxy).", _bool),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclasses.dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    db: str = "chat.db"
    log_level: str = "INFO"
    synchronous: str = "FULL"
    busy_timeout: float = 5.0
    history_size: int = 50
    heartbeat: float = 30.0
    send_queue: int = 1024
    msg_rate: float = 5.0
    msg_burst: int = 20
    max_connections: int = 20000
    max_connections_per_ip: int = 50
    trusted_proxies: tuple[str, ...] = ()
    public_origin: str = ""
    allowed_origins: tuple[str, ...] = ()
    shutdown_timeout: float = 10.0
    admin_password: str = ""
    secret: str = ""
    secure_cookies: bool = False

    @property
    def db_path(self) -> Path:
        return Path(self.db)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` one flag per setting; unset flags stay ``None``."""
    for s in SETTINGS:
        parser.add_argument(s.flag, dest=s.name, default=None, help=f"{s.help} [env {s.env}]")


def load(env: Mapping[str, str] | None = None, args: argparse.Namespace | None = None) -> Settings:
    """Settings from defaults, then ``CHATAPP_*`` variables, then command-line flags."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for s in SETTINGS:
        raw = getattr(args, s.name, None) if args is not None else None
        if raw is None:
            raw = env.get(s.env)
        if raw is None:
            continue
        try:
            values[s.name] = s.parse(raw)
        except ValueError as exc:
            raise SystemExit(f"chatapp: bad value for {s.env} / {s.flag}: {raw!r} ({exc})") from None
    settings = Settings(**values)
    if settings.synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
        raise SystemExit("chatapp: CHATAPP_SYNCHRONOUS must be FULL, NORMAL or EXTRA")
    return settings


def describe(name: str) -> Setting:
    return _BY_NAME[name]
