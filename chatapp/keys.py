"""Typed application keys: every piece of state the app holds, in one place."""

from __future__ import annotations

from aiohttp import web

from .hub import Hub
from .notify import Notifier
from .ratelimit import PerAddress
from .settings import Settings
from .storage import Storage
from .writer import BatchWriter

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Storage)
WRITER = web.AppKey("writer", BatchWriter)
HUB = web.AppKey("hub", Hub)
# Messages per client address across all its sockets (see ws.py).
SENDERS = web.AppKey("senders", PerAddress)
# Who gets told about a message, beyond the sockets in its room (see notify.py).
NOTIFY = web.AppKey("notify", Notifier)
