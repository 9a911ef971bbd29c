"""Applying node events on every node: the in-memory state one machine changes directly.

What :mod:`chatapp.moderation`, :mod:`chatapp.privacy` and the member pages change in
memory on the node that made the change (:class:`chatapp.rooms.RoomState`, the private
rooms cache, open sockets) is changed here on every other node, when its follower reads the
event at its place in the log: after every message committed before it.
"""

from __future__ import annotations

import logging

from aiohttp import web

from ..accounts import SESSION_ENDED
from ..admin.members import ACCOUNT_DEACTIVATED
from ..keys import HUB, WRITER
from ..models import RoomEvent, dumps
from ..moderation import ROOM_DELETED
from ..privacy import PRIVATE_ROOMS, ROOM_GONE
from . import node

log = logging.getLogger(__name__)


def _member(event: RoomEvent) -> int | None:
    try:
        return int(event.data or "")
    except ValueError:
        log.warning("node event %d (%s) names no member: %r", event.id, event.kind, event.data)
        return None


def apply(app: web.Application, event: RoomEvent) -> None:
    """Make ``event`` (one of :data:`chatapp.cluster.node.NODE_KINDS`) on this node."""
    cluster = app[node.CLUSTER]
    if cluster.applied_here(event.id):
        return
    hub, rooms, room, kind = app[HUB], app[WRITER].rooms, event.room, event.kind
    log.debug("node event %d: %s %s %s", event.id, kind, room, event.data or "")
    if kind in (node.ROOM_LOCKED, node.ROOM_UNLOCKED):
        locked = kind == node.ROOM_LOCKED
        rooms.set_locked(room, locked)
        hub.broadcast(room, dumps({"type": "room", "room": room, "locked": locked}))
    elif kind == node.ROOM_DELETED:
        rooms.deleted(room)
        app[PRIVATE_ROOMS].forget(room)
        hub.close_room(room, ROOM_DELETED, b"room deleted")
    elif kind == node.ROOM_PRIVATE:
        app[PRIVATE_ROOMS].created(room, event.data or "private")
        rooms.deleted(room)  # sockets of the public room of that name are refused from now on
        hub.close_room(room, ROOM_GONE, b"room is private")
    elif kind == node.MEMBER_REMOVED:
        app[PRIVATE_ROOMS].revoked(room)
        if (member := _member(event)) is not None:
            hub.close_member_in(room, member, ROOM_GONE, b"removed from room")
    elif kind == node.MEMBER_DEACTIVATED:
        if (member := _member(event)) is not None:
            hub.close_member(member, ACCOUNT_DEACTIVATED, b"account deactivated")
    elif kind == node.SESSIONS_ENDED:
        if (member := _member(event)) is not None:
            hub.close_member(member, SESSION_ENDED, b"session ended")
