"""One node's part in a cluster: its follower, and telling the other nodes about a change.

A change to state every node keeps in memory (a room locked or deleted, a room made private,
a member removed from one, a member deactivated or logged out everywhere) is made here
first, as on one machine, then :func:`announce`\\ d: written to the shared log, at its place
among the messages, so every other node applies it when its follower reads that far
(:mod:`chatapp.cluster.events`). The node that made the change remembers the event's id and
does not apply it twice. On SQLite (no ``database_url``) :func:`announce` does nothing:
there is no other node to tell.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, cast

from aiohttp import web
from aiohttp.helpers import ChainMapProxy

from ..models import RoomEvent, utc_now_iso
from ..storage import Storage
from .follower import LogFollower, SharedLog

log = logging.getLogger(__name__)

# The kinds of log events that are for nodes, not pages (migrations/postgres/: room_events).
ROOM_LOCKED = "room_locked"
ROOM_UNLOCKED = "room_unlocked"
ROOM_DELETED = "room_deleted"
ROOM_PRIVATE = "room_private"  # data: "private" or "dm"
MEMBER_REMOVED = "member_removed"  # data: the member's id
MEMBER_DEACTIVATED = "member_deactivated"  # room "", data: the member's id
SESSIONS_ENDED = "sessions_ended"  # room "", data: the member's id
NODE_KINDS = frozenset({ROOM_LOCKED, ROOM_UNLOCKED, ROOM_DELETED, ROOM_PRIVATE, MEMBER_REMOVED,
                        MEMBER_DEACTIVATED, SESSIONS_ENDED})
MAX_APPLIED = 10_000  # ids of this node's own announcements not yet read back


class ClusterLog(SharedLog, Protocol):
    """The shared log, and writing a node event to it (PostgreSQL: storage/postgres)."""

    async def log_node_event(self, room: str, kind: str, data: str | None, ts: str,
                             drawn: Callable[[int], None] | None = None) -> RoomEvent: ...


class Cluster:
    """This node's follower and the node events it announced itself."""

    def __init__(self, log: ClusterLog, follower: LogFollower) -> None:
        self.log = log
        self.follower = follower
        self._applied: set[int] = set()

    def applied_here(self, event_id: int) -> bool:
        """Whether this node announced ``event_id`` (and so applied it already); asked once."""
        if event_id in self._applied:
            self._applied.discard(event_id)
            return True
        return False

    async def announce(self, room: str, kind: str, data: str | None = None) -> RoomEvent:
        # Noted as this node's own before the commit: the follower may read the event the
        # moment it is committed (our own NOTIFY wakes it), before this coroutine resumes.
        event = await self.log.log_node_event(room, kind, data, utc_now_iso(), drawn=self._own)
        self.follower.wake(self.log.shard_of(room))
        return event

    def _own(self, event_id: int) -> None:
        if len(self._applied) > MAX_APPLIED:
            self._applied.clear()
        self._applied.add(event_id)  # a rolled-back event's id stays here unread: harmless


CLUSTER = web.AppKey("cluster", Cluster)


def shared_log(storage: Storage) -> ClusterLog:
    """``storage`` as the shared log (only PostgreSQL storage is one: check the setting first)."""
    return cast(ClusterLog, storage)


async def announce(app: web.Application | ChainMapProxy, room: str, kind: str,
                   data: str | int | None = None) -> None:
    """Tell the other nodes about a change this node has just made (``app``: the
    application, or a sub-application's ``request.config_dict``); nothing on SQLite."""
    cluster = app.get(CLUSTER)
    if cluster is None:
        return
    await cluster.announce(room, kind, None if data is None else str(data))
