"""Who may see which room: the one access check every path to a room goes through.

A room is public, private (its members only) or a direct message (``dm``, its two members
only). :func:`visible_room` is called by the room page (``?at=`` links included), the
history API and the WebSocket handshake; search filters in SQL by the same rule
(:meth:`chatapp.storage.Storage.search`), the index lists a member's own private rooms
apart, and export is the admin's alone. Anyone else gets exactly the 404 of a room name
that cannot exist, never a 403, so a private room's name does not leak through its pages.
Admins (members with the admin role) may open private rooms, never another pair's DM;
the operator sees every room in ``/admin``.

Cost: :class:`PrivateRooms` keeps the names of private rooms and DMs in memory (loaded at
start, updated when one is created; a stale entry for a room an admin deleted corrects
itself on its next read), so a public room costs no read at all and a private one costs
one indexed read per request (cached on the request). The set grows with private rooms
and DMs only, never with public rooms or messages.

The ``dm-`` prefix belongs to DMs: a public room of that name cannot be opened, so no
socket can exist to create one, and a DM is never "taken over" from a room someone made.
Losing access bumps the room's *generation*: a handshake that passed the check before the
change but joined the hub after it is closed at once (:func:`still_allowed`), with
:data:`ROOM_GONE`, the close code a removed member's open sockets get too.
"""

from __future__ import annotations

import collections
import logging
import re
from collections.abc import AsyncIterator
from typing import NamedTuple

from aiohttp import web

from .accounts import current_member
from .cluster.node import MEMBER_REMOVED, ROOM_PRIVATE, announce
from .keys import HUB, STORE, WRITER
from .params import room_or_404
from .storage import Member

log = logging.getLogger(__name__)

# The close code of a socket whose member lost access to its room: removed from it, or the
# room became private under it (docs/protocol.md). The page says so and does not reconnect.
ROOM_GONE = 4003
DM_PREFIX = "dm-"
_DM_NAME = re.compile(r"^dm-([0-9]+)-([0-9]+)$")
NOT_FOUND = "There is no room of that name here."


class PrivateRooms:
    """The names of every private room and DM with its visibility, and per-room generations."""

    def __init__(self) -> None:
        self._kind: dict[str, str] = {}
        self._generation: collections.Counter[str] = collections.Counter()

    def __len__(self) -> int:
        return len(self._kind)

    def load(self, kinds: dict[str, str]) -> None:
        self._kind = dict(kinds)

    def visibility(self, room: str) -> str:
        return self._kind.get(room, "public")

    def created(self, room: str, visibility: str) -> None:
        self._kind[room] = visibility
        self.revoked(room)

    def forget(self, room: str) -> None:
        self._kind.pop(room, None)

    def generation(self, room: str) -> int:
        return self._generation.get(room, 0)

    def revoked(self, room: str) -> None:
        """Someone lost access to ``room``: handshakes checked before now must not join it."""
        self._generation[room] += 1


PRIVATE_ROOMS = web.AppKey("private_rooms", PrivateRooms)


class RoomAccess(NamedTuple):
    room: str
    visibility: str  # "public", "private" or "dm"
    member: Member | None  # who was checked: None for a public room (nobody needed)
    generation: int


_CHECKED: web.RequestKey[dict[str, RoomAccess]] = web.RequestKey("room_access")


def not_found() -> web.HTTPNotFound:
    return web.HTTPNotFound(text=NOT_FOUND)


def dm_name(a: int, b: int) -> str:
    low, high = sorted((a, b))
    return f"{DM_PREFIX}{low}-{high}"


def is_dm_name(room: str) -> bool:
    return room.startswith(DM_PREFIX)


def operator_room_or_404(request: web.Request) -> str:
    """The room an admin page or export names, unless it is a DM: the operator and admin
    members manage every room, private ones included, but a DM is its two members' alone
    (it is not listed to admins either; deleting an account's data is a database job)."""
    room = room_or_404(request)
    if is_dm_name(room):
        raise not_found()
    return room


async def visible_room(request: web.Request, room: str | None = None) -> RoomAccess:
    """The room the URL names (or ``room``) if this request may see it; else 404, the same
    404 whether the room is private, a DM, or does not exist."""
    name = room if room is not None else room_or_404(request)
    checked: dict[str, RoomAccess] = request.get(_CHECKED) or {}
    if name in checked:
        return checked[name]
    rooms = request.config_dict[PRIVATE_ROOMS]
    generation = rooms.generation(name)
    visibility = rooms.visibility(name)
    member: Member | None = None
    if visibility != "public":
        member = await current_member(request)
        if member is None:
            raise not_found()
        found = await request.config_dict[STORE].room_access(name, member.id)
        if found is None or found[0] == "public":
            rooms.forget(name)  # deleted by an admin since: the name is free again
            visibility, member = "public", None
        elif not (found[1] or (found[0] == "private" and member.role == "admin")):
            raise not_found()
    if visibility == "public" and is_dm_name(name):
        raise not_found()
    access = RoomAccess(name, visibility, member, generation)
    if visibility != "public":
        # Only an answer that cost a query is kept: a public room's is two dict lookups, and
        # a WebSocket's request (with all it holds) lives as long as the connection.
        request[_CHECKED] = {**checked, name: access}
    return access


def still_allowed(app: web.Application, access: RoomAccess) -> bool:
    """Whether nobody lost access to the room since ``access`` was checked (a socket that
    joined the hub after such a change is closed: it may be the one who lost it)."""
    return app[PRIVATE_ROOMS].generation(access.room) == access.generation


# ---- changes: creating rooms and DMs, removing members ----

async def create_room(app: web.Application, name: str, visibility: str, now: str, member_ids: list[int]) -> str:
    """Create a private room or DM: "created", or the visibility of the room already there.

    Runs as an operation of the chat writer, so it is ordered with message batches. If
    sockets were open on the name while it was free (an empty public room), they are
    closed and what they still send is refused (the room's epoch moves on), so nothing of
    theirs can land in the private room.
    """
    store, hub, writer = app[STORE], app[HUB], app[WRITER]

    async def create() -> str:
        result = await store.create_room(name, visibility, now, member_ids)
        if result == "created":
            app[PRIVATE_ROOMS].created(name, visibility)
            writer.rooms.deleted(name)  # a new room under this name: the old epoch's sockets are refused
            hub.close_room(name, ROOM_GONE, b"room is private")
            await announce(app, name, ROOM_PRIVATE, visibility)  # the other nodes do the same
            log.info("%s room %s created", visibility, name)
        return result

    return await writer.run(create)


async def remove_member(app: web.Application, room: str, member_id: int) -> bool:
    """Take a member out of a private room and close their sockets to it at once.

    Sockets are closed before the row goes (nothing published from now on reaches them)
    and again after it (a handshake checked in between joins after and is closed too).
    """
    rooms, hub = app[PRIVATE_ROOMS], app[HUB]
    rooms.revoked(room)
    hub.close_member_in(room, member_id, ROOM_GONE, b"removed from room")
    removed = await app[STORE].remove_room_member(room, member_id)
    rooms.revoked(room)
    hub.close_member_in(room, member_id, ROOM_GONE, b"removed from room")
    if removed:
        await announce(app, room, MEMBER_REMOVED, member_id)  # their sockets on other nodes
    return removed


async def _load(app: web.Application) -> AsyncIterator[None]:
    app[PRIVATE_ROOMS].load(await app[STORE].non_public_rooms())
    log.info("%d private rooms and direct messages", len(app[PRIVATE_ROOMS]))
    yield


def setup_privacy(app: web.Application) -> None:
    """The key and its start-up step; after the database's cleanup context."""
    app[PRIVATE_ROOMS] = PrivateRooms()
    app.cleanup_ctx.append(_load)
