"""The attention pages: the sidebar a room page renders, ``/mentions``, and the two forms a
sidebar posts (a room's notification level, and taking a public room out of the sidebar).

Every POST is CSRF-checked (:mod:`chatapp.csrf`) and answers 303 back to the room for a
form, or JSON for a script (one that sends the token as ``X-CSRF-Token``). A room the
viewer may not see is a 404, as everywhere (:func:`chatapp.privacy.visible_room`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import aiohttp_jinja2
from aiohttp import web
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from .. import csrf, sessions
from ..accounts import current_member
from ..fragments import fragments
from ..keys import STORE
from ..models import Message, iso_utc
from ..params import int_param
from ..privacy import RoomAccess, not_found, visible_room
from ..storage import Member
from ..storage.records import SidebarRoom
from .levels import LEVELS, default_level
from .service import ATTENTION, COUNT_LIMIT, sidebar_entry

MENTIONS_PAGE = 30
LEVEL_LABELS = {"all": "All messages", "mentions": "Mentions only", "nothing": "Nothing"}
LEVEL_CHOICES = tuple(LEVEL_LABELS.items())  # for the sidebar's menu (chatapp/fragments.py keeps it rendered)


class SidebarItem(NamedTuple):
    """One room as the sidebar shows it, worked out here so the template only writes it out."""

    room: str
    label: str  # "#general", or a DM's other member's name
    name: str  # what the item says beside its icon: "general", or that name
    href: str
    visibility: str
    unread: int
    mentions: int
    unread_text: str  # "99+" from COUNT_LIMIT on
    mentions_text: str
    level: str  # the effective level
    current: bool
    classes: str  # " current unread ...": the item's state, for the stylesheet


def _shown(n: int) -> str:
    return f"{COUNT_LIMIT - 1}+" if n >= COUNT_LIMIT else str(n)


# A member's sidebar changes only with news, and every page they open shows it: each room's
# item and JSON entry are worked out once per state of the room (the whole SidebarRoom is
# the key), for every member's pages together.
SIDEBAR_PIECES = 4096


@functools.lru_cache(maxsize=SIDEBAR_PIECES)
def _piece(r: SidebarRoom, is_current: bool, room_path: str) -> tuple[SidebarItem, str]:
    """The room's item, and its entry of the nav's ``data-rooms`` as Jinja's ``tojson`` writes
    it inside a list."""
    entry = sidebar_entry(r)
    if is_current:
        entry.update(unread=0, mentions=0)
    return _item(r, is_current, room_path), str(htmlsafe_json_dumps(entry, sort_keys=True))


def _item(r: SidebarRoom, is_current: bool, room_path: str) -> SidebarItem:
    dm = r.visibility == "dm"
    name = (r.other or "a former member") if dm else r.room
    unread = 0 if is_current else r.unread
    mentions = 0 if is_current else r.mentions
    level = r.level or default_level(r.visibility)
    classes = "".join(c for c, on in ((" current", is_current), (" unread", unread), (" mentioned", mentions),
                                      (" muted", level == "nothing")) if on)
    return SidebarItem(r.room, name if dm else "#" + r.room, name, room_path + r.room, r.visibility, unread,
                       mentions, _shown(unread), _shown(mentions), level, is_current, classes)


# What room-sidebar.js clones for a room that joins the sidebar while the page is open.
BLANK_ITEM = SidebarItem("", "#", "", "", "public", 0, 0, "0", "0", "mentions", False, "")


def _room_path(request: web.Request) -> str:
    """``/rooms/`` as the router makes it: room names need no escaping ([a-z0-9_-])."""
    return str(request.app.router["room"].url_for(room="x"))[:-1]


def _now(request: web.Request) -> str:
    return iso_utc(request.config_dict[sessions.SESSIONS].clock())


async def room_context(request: web.Request, access: RoomAccess, messages: Sequence[Message]) -> dict[str, Any]:
    """What room.html needs for the sidebar, the "new messages" divider and the room's level.

    For a member: their sidebar (one query), the room put in it if it is a public room
    opened for the first time, and the first message on the page after their last read
    one. A guest's sidebar is the browser's own (static/room-sidebar.js)."""
    member = await current_member(request)
    context: dict[str, Any] = {"sidebar_rooms": None, "sidebar_dms": None, "count_limit": COUNT_LIMIT,
                               "first_unread": None, "notify_level": None, "level_labels": LEVEL_LABELS,
                               "last_read": 0, "sidebar_token": "",
                               "sidebar_json": "[]", "sidebar_rooms_html": "", "sidebar_dms_html": ""}
    if member is None:
        return context
    attention = request.app[ATTENTION]
    rooms = await attention.sidebar(member.id)
    current = next((r for r in rooms if r.room == access.room), None)
    last_read: int | None = current.last_read if current is not None else None
    if current is None and access.visibility == "public":
        store = request.app[STORE]
        if await store.join_sidebar(member.id, access.room, _now(request)):
            attention.opened(member.id, access.room)
            newest = messages[-1].id if messages else 0
            rooms.append(SidebarRoom(access.room, "public", None, newest, None, 0, 0, newest, None))
        else:  # in the sidebar, past the rooms it lists
            last_read = await store.read_position(member.id, access.room)
    room_path = _room_path(request)
    pieces = [_piece(r, r.room == access.room, room_path) for r in rooms]
    items = [item for item, _ in pieces]
    first_unread = None
    if last_read is not None:
        first_unread = next((m.id for m in messages if m.id > last_read and m.member_id != member.id), None)
    listed = sorted((i for i in items if i.visibility != "dm"), key=itemgetter(0))  # by room name
    dms = [i for i in items if i.visibility == "dm"]
    rendered = fragments(request)
    context.update(
        # What static/room-sidebar.js starts from: the `sidebar` frame's entries (docs/protocol.md).
        # json.dumps writes a list as its items' own texts joined by ", ", so this is the
        # `| tojson` of that list, byte for byte.
        sidebar_json=Markup("[" + ", ".join([entry for _, entry in pieces]) + "]"),
        sidebar_rooms=listed,
        sidebar_dms=dms,
        sidebar_rooms_html=rendered.sidebar_items(listed, menu=True),
        sidebar_dms_html=rendered.sidebar_items(dms, menu=True),
        first_unread=first_unread,
        last_read=last_read or 0,
        notify_level=next((i.level for i in items if i.current), None),
        sidebar_token=await csrf.token(request),
    )
    return context


async def _member_or_login(request: web.Request) -> Member:
    member = await current_member(request)
    if member is None:
        login = request.app.router["login"].url_for().with_query(next=request.path_qs)
        raise web.HTTPFound(login)
    return member


async def _own_room(request: web.Request) -> tuple[Member, RoomAccess]:
    """The member posting and the room the URL names, if it is theirs to set: a private room
    only for its members (an admin may read one, but is told nothing of it)."""
    await csrf.check(request)
    member = await _member_or_login(request)
    access = await visible_room(request)
    if access.visibility == "private":
        found = await request.app[STORE].room_access(access.room, member.id)
        if found is None or not found[1]:
            raise not_found()
    return member, access


def _scripted(request: web.Request) -> bool:
    return csrf.CSRF_HEADER in request.headers


async def set_level(request: web.Request) -> web.StreamResponse:
    """``POST /rooms/<room>/notifications``: ``level`` is all, mentions, nothing or default."""
    member, access = await _own_room(request)
    form = await request.post()
    raw = str(form.get("level", ""))
    if raw not in (*LEVELS, "default"):
        raise web.HTTPBadRequest(text="level must be all, mentions, nothing or default")
    level = None if raw == "default" else raw
    await request.app[STORE].set_notification_level(member.id, access.room, level, _now(request))
    request.app[ATTENTION].level_chosen(member.id, access.room, level)
    effective = level or default_level(access.visibility)
    if _scripted(request):
        return web.json_response({"room": access.room, "level": effective, "chosen": level is not None})
    raise web.HTTPSeeOther(request.app.router["room"].url_for(room=access.room))


async def leave_sidebar(request: web.Request) -> web.StreamResponse:
    """``POST /rooms/<room>/sidebar/leave``: a public room leaves the sidebar (until opened again)."""
    member, access = await _own_room(request)
    if access.visibility != "public":
        raise web.HTTPBadRequest(text="A private room or DM stays in the sidebar while you are in it.")
    await request.app[STORE].leave_sidebar(member.id, access.room)
    request.app[ATTENTION].left_sidebar(member.id, access.room)
    if _scripted(request):
        return web.json_response({"room": access.room, "left": True})
    raise web.HTTPSeeOther(request.app.router["index"].url_for())


@aiohttp_jinja2.template("mentions.html")
async def mentions_page(request: web.Request) -> dict[str, Any]:
    """``GET /mentions[?before=<id>]``: the member's mentions, newest first, paged by id."""
    member = await _member_or_login(request)
    before = int_param(request, "before")
    hits, more = await request.app[STORE].mentions_page(member.id, before, MENTIONS_PAGE)
    return {"hits": hits, "older": hits[-1].message.id if more and hits else None, "before": before}
