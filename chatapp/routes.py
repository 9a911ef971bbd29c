"""The URL table: every route the app serves, by name."""

from __future__ import annotations

from aiohttp import web

from . import api, views, ws
from .resources import resource_dir


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", views.index, name="index")
    app.router.add_get("/enter", views.enter_room, name="enter")
    app.router.add_get("/rooms/{room}", views.room_page, name="room")
    app.router.add_get("/ws/{room}", ws.websocket, name="ws")
    app.router.add_get("/api/rooms/{room}/messages", api.history, name="history")
    app.router.add_get("/healthz", api.healthz, name="healthz")
    app.router.add_static("/static/", resource_dir("static"), name="static", append_version=True)
