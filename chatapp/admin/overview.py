"""The room table at ``/admin``: every room with its figures, busiest first, live.

The page and its JSON (``/admin/api/rooms``, polled by ``static/admin.js``) share one
:func:`overview`, so what a reload shows and what the poll shows cannot differ.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from ..keys import HUB, STORE, WRITER
from ..models import dumps
from ..storage import RoomStats
from .pages import admin_url, page, since_24h

POLL_SECONDS = 5  # how often admin.js refreshes the room table


@dataclasses.dataclass(frozen=True, slots=True)
class RoomRow:
    """One line of the room table; orjson writes it as a JSON object for admin.js."""

    name: str
    url: str
    messages: int
    connections: int
    names_24h: int
    last_message_at: str | None
    locked: bool


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


async def overview(request: web.Request) -> dict[str, Any]:
    """The room table's rows, busiest first, and the totals; the page and the API share it."""
    store, hub, rooms = request.config_dict[STORE], request.config_dict[HUB], request.config_dict[WRITER].rooms
    stats = {s.name: s for s in await store.room_stats(since_24h())}
    for name in hub.rooms:  # people can be in a room nobody has posted in yet
        if name not in stats:
            stats[name] = RoomStats(name, 0, None, rooms.is_locked(name), None, 0)
    rows = [
        RoomRow(s.name, admin_url(request, "admin_room", room=s.name), s.message_count,
                hub.connections(s.name), s.names_24h, s.last_message_at, s.locked)
        for s in stats.values()
    ]
    # Activity: the latest message first, then the most people connected, then by name.
    rows.sort(key=lambda r: r.name)
    rows.sort(key=lambda r: (r.last_message_at or "", r.connections), reverse=True)
    db_bytes = await store.size_bytes()
    totals = {
        "rooms": len(rows),
        "messages": sum(r.messages for r in rows),
        "connections": hub.total,
        "db_bytes": db_bytes,
        "db_size": human_bytes(db_bytes),
    }
    return {"rooms": rows, "totals": totals}


@aiohttp_jinja2.template("admin/index.html")
async def home(request: web.Request) -> dict[str, Any]:
    return await page(request, poll_seconds=POLL_SECONDS, **await overview(request))


async def api_rooms(request: web.Request) -> web.Response:
    return web.json_response(await overview(request), dumps=dumps)


async def slash(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(admin_url(request, "admin"))
