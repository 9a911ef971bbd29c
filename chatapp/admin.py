"""The operator's admin: the live room table, moderation of one room, and the audit log.

Every page here needs the operator's session (see :mod:`chatapp.auth`); every change is
a POST with the session's CSRF token, answered with a 303 back to a page, recorded in
the audit log, and told to the room's open sockets so their pages update live.
SQL lives in :mod:`chatapp.admin_store`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import math
from collections.abc import AsyncIterator
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from . import admin_store, auth, protocol
from .keys import HUB, SETTINGS, STORE, WRITER
from .models import dumps
from .netutil import client_addr

log = logging.getLogger(__name__)

PAGE_SIZE = 50  # messages on a room's admin page
AUDIT_PAGE = 100
MAX_RETENTION_DAYS = 36500
DRAIN_TIMEOUT = 2.0  # seconds a clear or delete waits for the room's queued messages
POLL_SECONDS = 5  # how often admin.js refreshes the room table


# ---- helpers ----

def _room(request: web.Request) -> str:
    room = protocol.normalise_room(request.match_info["room"])
    if room is None:
        raise web.HTTPNotFound(text="Room names are 1 to 64 letters, digits, - or _.")
    return room


def _see_other(location: str) -> web.Response:
    # Returned rather than raised, so the session middleware can put its cookie on it.
    return web.Response(status=303, headers={"Location": location})


def _room_url(request: web.Request, room: str) -> str:
    return str(request.app.router["admin_room"].url_for(room=room))


async def _flash(request: web.Request, text: str) -> None:
    session = await auth.get_session(request)
    session["flash"] = text


async def _page(request: web.Request, **context: Any) -> dict[str, Any]:
    """What every admin template needs: the CSRF token and a one-time notice."""
    session = await auth.get_session(request)
    flash = session.pop("flash", None)
    return {"csrf_token": await auth.csrf_token(request), "flash": flash, **context}


def _since_24h() -> str:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=24)
    return since.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


async def _audit(request: web.Request, action: str, **fields: Any) -> None:
    addr = client_addr(request, request.app[SETTINGS])
    await admin_store.record(request.app[STORE], action, addr, **fields)
    where = " ".join(f"{k}={v}" for k, v in fields.items())
    log.info("admin %s %s from %s", action, where, addr)


def _send(request: web.Request, room: str, frame: dict[str, Any]) -> None:
    request.app[HUB].broadcast(room, dumps(frame))


@contextlib.asynccontextmanager
async def _quiet(app: web.Application, room: str) -> AsyncIterator[None]:
    """Hold sends to ``room`` and let the writer store what it already took for it.

    Without this, a message accepted just before a clear or delete could be stored
    after it and outlive it (or bring a deleted room back). Sends in the meantime
    get ``room_locked``, which is honest: the room is being changed.
    """
    hub = app[HUB]
    was_locked = room in hub.locked
    hub.locked.add(room)
    try:
        try:
            async with asyncio.timeout(DRAIN_TIMEOUT):
                await app[WRITER].drain()
        except TimeoutError:
            log.warning("the writer is still busy; changing room %s anyway", room)
        yield
    finally:
        if not was_locked:
            hub.locked.discard(room)


# ---- the room table ----

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


async def overview(app: web.Application) -> dict[str, Any]:
    """The room table's rows, busiest first, and the totals; the page and the API share it."""
    store = app[STORE]
    hub = app[HUB]
    stats = {s.name: s for s in await admin_store.room_stats(store, _since_24h())}
    for name in hub.rooms:  # people can be in a room nobody has posted in yet
        if name not in stats:
            stats[name] = admin_store.RoomStats(name, 0, None, name in hub.locked, None, 0)
    rows = [
        RoomRow(s.name, str(app.router["admin_room"].url_for(room=s.name)), s.message_count,
                hub.connections(s.name), s.names_24h, s.last_message_at, s.locked)
        for s in stats.values()
    ]
    # Activity: the latest message first, then the most people connected, then by name.
    rows.sort(key=lambda r: r.name)
    rows.sort(key=lambda r: (r.last_message_at or "", r.connections), reverse=True)
    db_bytes = await asyncio.to_thread(admin_store.database_bytes, app[SETTINGS].db)
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
    await auth.require_admin(request)
    return await _page(request, poll_seconds=POLL_SECONDS, **await overview(request.app))


async def api_rooms(request: web.Request) -> web.Response:
    if not await auth.is_admin(request):
        # A script polling after the session ended gets a status it can act on, not a login page.
        raise web.HTTPUnauthorized(text=dumps({"error": "login_required"}), content_type="application/json")
    return web.json_response(await overview(request.app), dumps=dumps)


async def slash(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(request.app.router["admin"].url_for())


# ---- logging in and out ----

async def login(request: web.Request) -> web.StreamResponse:
    next_url = auth.safe_next(request.query.get("next"))
    if request.method in ("GET", "HEAD"):
        if await auth.is_admin(request):
            raise web.HTTPFound(next_url)
        return await _login_form(request, next_url)
    await auth.check_post(request)
    form = await request.post()
    next_url = auth.safe_next(str(form.get("next", "")))
    wait = auth.login_wait(request)
    if wait > 0:
        seconds = math.ceil(wait)
        response = await _login_form(
            request, next_url, f"Too many wrong passwords. Try again in {seconds} seconds.", 429)
        response.headers["Retry-After"] = str(seconds)
        return response
    if not await auth.attempt_login(request, str(form.get("password", ""))):
        return await _login_form(request, next_url, "That password is not right.", 401)
    await _audit(request, "login")
    return _see_other(next_url)


async def _login_form(request: web.Request, next_url: str, error: str | None = None,
                      status: int = 200) -> web.Response:
    context = await _page(request, next=next_url, error=error)
    return aiohttp_jinja2.render_template("admin/login.html", request, context, status=status)


async def logout(request: web.Request) -> web.StreamResponse:
    await auth.require_admin(request)
    await _audit(request, "logout")
    await auth.log_out(request)
    return _see_other(str(request.app.router["admin_login"].url_for()))


# ---- one room ----

@aiohttp_jinja2.template("admin/room.html")
async def room_page(request: web.Request) -> dict[str, Any]:
    await auth.require_admin(request)
    room = _room(request)
    store = request.app[STORE]
    hub = request.app[HUB]
    before = protocol.as_id(request.query.get("before"))
    messages, has_more = await admin_store.recent_messages(store, room, before, PAGE_SIZE)
    stats = await admin_store.room_stat(store, room, _since_24h())
    return await _page(
        request,
        room=room,
        stats=stats,
        locked=room in hub.locked,
        connections=hub.connections(room),
        messages=messages,
        older=messages[-1].id if has_more and messages else None,
        paged=before is not None,
        max_retention=MAX_RETENTION_DAYS,
    )


async def delete_message(request: web.Request) -> web.StreamResponse:
    await auth.require_admin(request)
    room = _room(request)
    message_id = int(request.match_info["id"])
    if await admin_store.delete_message(request.app[STORE], room, message_id):
        _send(request, room, {"type": "delete", "id": message_id, "room": room})
        await _audit(request, "delete_message", room=room, message_id=message_id)
        await _flash(request, f"Message {message_id} deleted.")
    else:
        await _flash(request, f"Message {message_id} was already gone.")
    return _see_other(_room_url(request, room))


async def _set_lock(request: web.Request, locked: bool) -> web.StreamResponse:
    await auth.require_admin(request)
    room = _room(request)
    await admin_store.set_locked(request.app[STORE], room, locked)
    hub = request.app[HUB]
    if locked:
        hub.locked.add(room)
    else:
        hub.locked.discard(room)
    _send(request, room, {"type": "room", "room": room, "locked": locked})
    await _audit(request, "lock" if locked else "unlock", room=room)
    await _flash(request, f"#{room} is {'locked: nobody can post' if locked else 'open again'}.")
    return _see_other(_room_url(request, room))


async def lock(request: web.Request) -> web.StreamResponse:
    return await _set_lock(request, True)


async def unlock(request: web.Request) -> web.StreamResponse:
    return await _set_lock(request, False)


async def clear(request: web.Request) -> web.StreamResponse:
    await auth.require_admin(request)
    room = _room(request)
    async with _quiet(request.app, room):
        deleted = await admin_store.delete_messages(request.app[STORE], room)
        _send(request, room, {"type": "clear", "room": room})
    await _audit(request, "clear", room=room, detail=f"{deleted} messages")
    await _flash(request, f"Cleared #{room}: {deleted} messages deleted.")
    return _see_other(_room_url(request, room))


async def delete_room(request: web.Request) -> web.StreamResponse:
    await auth.require_admin(request)
    room = _room(request)
    hub = request.app[HUB]
    async with _quiet(request.app, room):
        hub.close_room(room, 4000, b"room deleted")
        deleted = await admin_store.delete_room(request.app[STORE], room)
    hub.locked.discard(room)  # its row is gone: a room of that name starts afresh, open
    await _audit(request, "delete_room", room=room, detail=f"{deleted} messages")
    await _flash(request, f"Deleted #{room} and its {deleted} messages.")
    return _see_other(str(request.app.router["admin"].url_for()))


async def retention(request: web.Request) -> web.StreamResponse:
    await auth.require_admin(request)
    room = _room(request)
    form = await request.post()
    days: int | None
    if form.get("keep") == "forever":
        days = None
    else:
        raw = str(form.get("days", "")).strip()
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_RETENTION_DAYS:
            raise web.HTTPBadRequest(text=f"Keep messages for 1 to {MAX_RETENTION_DAYS} days, or forever.")
        days = int(raw)
    await admin_store.set_retention(request.app[STORE], room, days)
    said = "forever" if days is None else f"{days} day{'' if days == 1 else 's'}"
    await _audit(request, "retention", room=room, detail=said)
    await _flash(request, f"#{room} now keeps its messages {said}.")
    return _see_other(_room_url(request, room))


# ---- the audit log ----

@aiohttp_jinja2.template("admin/audit.html")
async def audit_page(request: web.Request) -> dict[str, Any]:
    await auth.require_admin(request)
    before = protocol.as_id(request.query.get("before"))
    entries, more = await admin_store.audit_entries(request.app[STORE], before, AUDIT_PAGE)
    return await _page(request, entries=entries,
                       older=entries[-1].id if more and entries else None, paged=before is not None)


# ---- wiring ----

async def no_store(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: nothing under /admin is kept by browsers or proxies."""
    if request.path == "/admin" or request.path.startswith("/admin/"):
        response.headers["Cache-Control"] = "no-store"


def setup_admin(app: web.Application) -> None:
    auth.setup_auth(app)
    app.on_response_prepare.append(no_store)
    r = app.router
    r.add_get("/admin", home, name="admin")
    r.add_get("/admin/", slash, name="admin_slash")
    r.add_get("/admin/api/rooms", api_rooms, name="admin_api_rooms")
    r.add_get("/admin/login", login, name="admin_login")
    r.add_post("/admin/login", login)
    r.add_post("/admin/logout", logout, name="admin_logout")
    r.add_get("/admin/audit", audit_page, name="admin_audit")
    r.add_get("/admin/rooms/{room}", room_page, name="admin_room")
    r.add_post(r"/admin/rooms/{room}/messages/{id:\d{1,18}}/delete", delete_message,
               name="admin_delete_message")
    r.add_post("/admin/rooms/{room}/lock", lock, name="admin_lock")
    r.add_post("/admin/rooms/{room}/unlock", unlock, name="admin_unlock")
    r.add_post("/admin/rooms/{room}/clear", clear, name="admin_clear")
    r.add_post("/admin/rooms/{room}/delete", delete_room, name="admin_delete_room")
    r.add_post("/admin/rooms/{room}/retention", retention, name="admin_retention")
