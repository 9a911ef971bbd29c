"""One room at ``/admin/rooms/<room>``: its figures, its messages, and moderating it.

Every action is a POST (the gate has checked the session, origin and CSRF token), is
done by :mod:`chatapp.moderation` in order with the chat, is recorded in the audit log,
and answers 303 back to the page with a one-time notice.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from .. import moderation, protocol
from ..keys import HUB, STORE, WRITER
from ..params import int_param
from ..privacy import operator_room_or_404
from .pages import admin_url, chat_app, flash, page, record, see_other, since_24h

PAGE_SIZE = 50  # messages on a room's admin page
MAX_RETENTION_DAYS = 36500


@aiohttp_jinja2.template("admin/room.html")
async def room_page(request: web.Request) -> dict[str, Any]:
    room = operator_room_or_404(request)
    store = request.config_dict[STORE]
    before = int_param(request, "before")
    messages, has_more = await store.before(room, before if before is not None else 2**62, PAGE_SIZE)
    messages.reverse()  # newest first
    return await page(
        request,
        room=room,
        stats=await store.room_stat(room, since_24h()),
        locked=request.config_dict[WRITER].rooms.is_locked(room),
        connections=request.config_dict[HUB].connections(room),
        messages=messages,
        older=messages[-1].id if has_more and messages else None,
        paged=before is not None,
        max_retention=MAX_RETENTION_DAYS,
    )


def _back(request: web.Request, room: str) -> web.Response:
    return see_other(admin_url(request, "admin_room", room=room))


async def delete_message(request: web.Request) -> web.StreamResponse:
    room = operator_room_or_404(request)
    message_id = int(request.match_info["id"])  # the route takes 1 to 18 ASCII digits only
    if await moderation.delete_message(chat_app(request), room, message_id):
        await record(request, "delete_message", room=room, message_id=message_id)
        await flash(request, f"Message {message_id} deleted.")
    else:
        await flash(request, f"Message {message_id} was already gone.")
    return _back(request, room)


async def _set_lock(request: web.Request, locked: bool) -> web.StreamResponse:
    room = operator_room_or_404(request)
    await moderation.set_locked(chat_app(request), room, locked)
    await record(request, "lock" if locked else "unlock", room=room)
    await flash(request, f"#{room} is {'locked: nobody can post' if locked else 'open again'}.")
    return _back(request, room)


async def lock(request: web.Request) -> web.StreamResponse:
    return await _set_lock(request, True)


async def unlock(request: web.Request) -> web.StreamResponse:
    return await _set_lock(request, False)


async def clear(request: web.Request) -> web.StreamResponse:
    room = operator_room_or_404(request)
    deleted = await moderation.clear(chat_app(request), room)
    await record(request, "clear", room=room, detail=f"{deleted} messages")
    await flash(request, f"Cleared #{room}: {deleted} messages deleted.")
    return _back(request, room)


async def delete_room(request: web.Request) -> web.StreamResponse:
    room = operator_room_or_404(request)
    deleted = await moderation.delete_room(chat_app(request), room)
    await record(request, "delete_room", room=room, detail=f"{deleted} messages")
    await flash(request, f"Deleted #{room} and its {deleted} messages.")
    return see_other(admin_url(request, "admin"))


async def retention(request: web.Request) -> web.StreamResponse:
    room = operator_room_or_404(request)
    form = await request.post()
    days: int | None
    if form.get("keep") == "forever":
        days = None
    else:
        days = protocol.as_id(str(form.get("days", "")).strip())  # ASCII digits only
        if days is None or not 1 <= days <= MAX_RETENTION_DAYS:
            raise web.HTTPBadRequest(text=f"Keep messages for 1 to {MAX_RETENTION_DAYS} days, or forever.")
    await request.config_dict[STORE].set_retention(room, days)
    said = "forever" if days is None else f"{days} day{'' if days == 1 else 's'}"
    await record(request, "retention", room=room, detail=said)
    await flash(request, f"#{room} now keeps its messages {said}.")
    return _back(request, room)
