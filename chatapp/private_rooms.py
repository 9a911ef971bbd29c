"""The pages that make and change private rooms and DMs: ``/private/new``, a private
room's members panel (``POST /rooms/<room>/members`` and ``.../members/remove``),
``/dm/<name>``, and what the index and room pages add for them. Who may see a room is
:mod:`chatapp.privacy`'s question; every POST here is CSRF-checked first (:mod:`chatapp.csrf`).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from . import csrf, protocol, sessions
from .accounts import current_member
from .accounts.names import fold
from .attention import ATTENTION
from .keys import STORE
from .models import iso_utc
from .privacy import RoomAccess, create_room, dm_name, is_dm_name, not_found, remove_member, visible_room
from .roomlist import RoomQuery

log = logging.getLogger(__name__)

MY_ROOMS = 200  # private rooms and DMs listed on a member's index page


def _now(request: web.Request) -> str:
    return iso_utc(request.config_dict[sessions.SESSIONS].clock())


def _see_other(request: web.Request, name: str, **parts: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(request.app.router[name].url_for(**parts))


async def _member_or_login(request: web.Request) -> Any:
    member = await current_member(request)
    if member is None:
        login = request.app.router["login"].url_for().with_query(next=request.path_qs)
        raise web.HTTPFound(login)
    return member


# ---- what the index and room pages add ----

async def index_extras(request: web.Request, rq: RoomQuery) -> dict[str, object]:
    """The viewer's own private rooms and DMs (matching the search box, if any), apart."""
    member = await current_member(request)
    if member is None or (rq.q and rq.needle is None) or not rq.first_page:
        return {"private_rooms": [], "direct_messages": []}
    mine = await request.app[STORE].member_rooms(member.id, MY_ROOMS)
    if rq.needle:
        mine = [r for r in mine if rq.needle in r.summary.name or rq.needle in (r.other or "").casefold()]
    return {"private_rooms": [r for r in mine if r.visibility == "private"],
            "direct_messages": [r for r in mine if r.visibility == "dm"]}


async def room_extras(request: web.Request, access: RoomAccess) -> dict[str, object]:
    """A private room's members panel (its members and the token its forms post)."""
    if access.visibility == "public":
        return {"visibility": "public", "room_members": [], "csrf_token": "", "no_member": ""}
    members = await request.app[STORE].room_members(access.room)
    return {"visibility": access.visibility, "room_members": members, "csrf_token": await csrf.token(request),
            "no_member": request.query.get("no_member", "")[:64]}


# ---- making a private room ----

async def new_room(request: web.Request) -> web.StreamResponse:
    """``GET/POST /private/new``: a member names a private room; they are its first member."""
    member = await _member_or_login(request)
    error, name, status = None, "", 200
    if request.method == "POST":
        await csrf.check(request)
        form = await request.post()
        name = str(form.get("room", "")).strip()
        room = protocol.normalise_room(name)
        if room is None:
            error, status = "Room names are 1 to 64 letters, digits, “-” or “_”.", 400
        elif is_dm_name(room):
            error, status = "Names starting with “dm-” are kept for direct messages.", 400
        elif await create_room(request.app, room, "private", _now(request), [member.id]) != "created":
            error, status = f"There is already a room named “{room}”. Choose another name.", 409
        else:
            raise _see_other(request, "room", room=room)
    response = aiohttp_jinja2.render_template(
        "private_new.html", request,
        {"error": error, "name": name, "csrf_token": await csrf.token(request), "max_room": protocol.MAX_ROOM},
        status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


# ---- a private room's members ----

async def _panel_access(request: web.Request) -> RoomAccess:
    await csrf.check(request)
    access = await visible_room(request)
    if access.visibility != "private":
        raise not_found()  # public rooms have no members; a DM's are its two
    return access


async def add_member(request: web.Request) -> web.StreamResponse:
    access = await _panel_access(request)
    form = await request.post()
    name = str(form.get("name", "")).strip()
    store = request.app[STORE]
    other = await store.member_by_key(fold(name)) if name else None
    if other is None or other.status != "active":
        url = request.app.router["room"].url_for(room=access.room).with_query(no_member=name[:64])
        raise web.HTTPSeeOther(url)
    if await store.add_room_member(access.room, other.id, _now(request)):
        log.info("member #%d added to %s", other.id, access.room)
        request.app[ATTENTION].member_added(access.room, other.id)  # their open pages hear of it now
    raise _see_other(request, "room", room=access.room)


async def remove_member_view(request: web.Request) -> web.StreamResponse:
    access = await _panel_access(request)
    form = await request.post()
    member_id = protocol.as_id(str(form.get("member_id", "")))
    if member_id is None:
        raise web.HTTPBadRequest(text="member_id must be a member's id")
    if await remove_member(request.app, access.room, member_id):
        log.info("member #%d removed from %s", member_id, access.room)
    if access.member is not None and access.member.id == member_id:
        raise _see_other(request, "index")  # left the room: its page is a 404 now
    raise _see_other(request, "room", room=access.room)


# ---- direct messages ----

async def direct_message(request: web.Request) -> web.StreamResponse:
    """``GET /dm/<name>``: the conversation between the viewer and that member, made on first use."""
    member = await _member_or_login(request)
    other = await request.app[STORE].member_by_key(fold(request.match_info["name"]))
    if other is None or other.status != "active" or other.id == member.id:
        raise web.HTTPNotFound(text="There is no member of that name here.")
    room = dm_name(member.id, other.id)
    result = await create_room(request.app, room, "dm", _now(request), [member.id, other.id])
    if result not in ("created", "dm"):
        # A room made before DMs existed holds the name; only an admin can free it.
        log.warning("DM %s cannot be made: a %s room of that name exists", room, result)
        raise web.HTTPConflict(text="This conversation cannot be opened; ask an admin.")
    raise web.HTTPFound(request.app.router["room"].url_for(room=room))


def setup_private_rooms(app: web.Application) -> None:
    r = app.router
    new = r.add_resource("/private/new", name="private_new")
    new.add_route("GET", new_room)
    new.add_route("POST", new_room)
    r.add_post("/rooms/{room}/members", add_member, name="room_members_add")
    r.add_post("/rooms/{room}/members/remove", remove_member_view, name="room_members_remove")
    r.add_get(r"/dm/{name}", direct_message, name="dm")
