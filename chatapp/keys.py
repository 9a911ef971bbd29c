"""Typed application keys: every piece of state the app holds, in one place."""

from __future__ import annotations

from aiohttp import web

from .hub import Hub
from .settings import Settings
from .store import Store
from .writer import Writer

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
WRITER = web.AppKey("writer", Writer)
HUB = web.AppKey("hub", Hub)
