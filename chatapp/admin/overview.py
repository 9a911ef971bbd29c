"""The room table at ``/admin``: a page of rooms with their figures, busiest first, live.

The page and its JSON (``/admin/api/rooms``, polled by ``static/admin.js``) share one
:func:`overview`, so what a reload shows and what the poll shows cannot differ. Both
take the room list's ``q`` and ``after`` (:mod:`chatapp.roomlist`), so the poll refreshes
only the page shown, and the totals come from counters kept by the database: a refresh
costs the same with ten rooms or a million.
"""

from __future__ import annotations

import dataclasses
import heapq
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from ..keys import HUB, STORE, WRITER
from ..models import dumps
from ..roomlist import PAGE_SIZE, fetch_page, page_query, room_query
from .bulk import bulk_defaults
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
    """One page of the room table, the next page's query, and the totals."""
    store, hub, rooms = request.config_dict[STORE], request.config_dict[HUB], request.config_dict[WRITER].rooms
    rq = room_query(request)
    since = since_24h()
    stats, after = await fetch_page(
        rq, lambda needle, cursor: store.room_stats_page(since, needle, cursor, PAGE_SIZE))
    rows = [RoomRow(s.name, admin_url(request, "admin_room", room=s.name), s.message_count,
                    hub.connections(s.name), s.names_24h, s.last_message_at, s.locked) for s in stats]
    # People can be in a room nobody has posted in yet: the most crowded of those (up to a
    # page) are counted, and listed at the end of the first page. Looking at them costs
    # in proportion to the rooms with people in them (capped by max_connections), never
    # to the rooms stored.
    shown = {r.name for r in rows}
    crowded = heapq.nlargest(PAGE_SIZE, (n for n in hub.rooms if n not in shown), key=hub.connections)
    stored = {r.name for r in await store.rooms_named(crowded)}
    unstored = [n for n in crowded if n not in stored]
    if not rq.q and rq.first_page:
        rows += [RoomRow(n, admin_url(request, "admin_room", room=n), 0, hub.connections(n), 0, None,
                         rooms.is_locked(n)) for n in unstored]
    room_total, message_total = await store.totals()
    db_bytes = await store.size_bytes()
    totals = {
        "rooms": room_total + len(unstored),
        "messages": message_total,
        "connections": hub.total,
        "db_bytes": db_bytes,
        "db_size": human_bytes(db_bytes),
        # True while the batch writer refuses new messages (CHATAPP_MAX_DB_MB / _MIN_FREE_MB).
        "storage_full": request.config_dict[WRITER].ceiling.full,
    }
    return {"rooms": rows, "totals": totals, "more": page_query(rq, after) if after is not None else None}


@aiohttp_jinja2.template("admin/index.html")
async def home(request: web.Request) -> dict[str, Any]:
    rq = room_query(request)
    return await page(request, poll_seconds=POLL_SECONDS, search=rq, api_query=page_query(rq, rq.after),
                      bulk=bulk_defaults(), **await overview(request))


async def api_rooms(request: web.Request) -> web.Response:
    return web.json_response(await overview(request), dumps=dumps)


async def slash(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(admin_url(request, "admin"))
