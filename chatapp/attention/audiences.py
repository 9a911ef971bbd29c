"""Who may hear about each private room and DM: its members, read from the database.

A private room's audience is read (one query) on its first message after start, and again
whenever :mod:`chatapp.privacy` marks a change of access by moving the room's *generation*
(a DM or private room made, a member removed). Until the audience is known, what the room's
messages would tell anyone is held, and handed on once it is: nothing about a private room
ever reaches someone on the strength of a sidebar alone. Reading it also puts the room in
its connected members' sidebars (a DM just made reaches its other member at once) and
takes it out of everyone else's, with their levels and read positions for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any

from ..privacy import PrivateRooms
from ..storage import Storage, StorageError
from .levels import Levels
from .reads import ReadPositions
from .watchers import Watchers

log = logging.getLogger(__name__)

RECHECKS = 5  # reads in a row while access keeps changing, before settling for the last one

Spawn = Callable[[Coroutine[Any, Any, None], str], None]


class _Audience:
    __slots__ = ("generation", "members")

    def __init__(self, generation: int, members: set[int]) -> None:
        self.generation = generation
        self.members = members


class Audiences:
    def __init__(self, store: Storage, private: PrivateRooms, watchers: Watchers, levels: Levels,
                 reads: ReadPositions, spawn: Spawn) -> None:
        self._store = store
        self._private = private
        self._watchers = watchers
        self._levels = levels
        self._reads = reads
        self._spawn = spawn
        self._known: dict[str, _Audience] = {}
        self._held: dict[str, list[Callable[[], None]]] = {}  # rooms being read -> work waiting

    def visibility(self, room: str) -> str:
        """The room's visibility; a private room's audience is (re)read if it may have changed."""
        visibility = self._private.visibility(room)
        if visibility != "public" and room not in self._held:
            known = self._known.get(room)
            if known is None or known.generation != self._private.generation(room):
                self._held[room] = []
                self._spawn(self._read(room), f"chatapp-audience-{room}")
        return visibility

    def allowed(self, room: str, visibility: str) -> Collection[int] | None:
        """Who may hear about ``room``: None for anyone (a public room), else its members."""
        if visibility == "public":
            return None
        known = self._known.get(room)
        return known.members if known is not None else ()

    def when_known(self, room: str, work: Callable[[], None]) -> None:
        """Run ``work`` now, or once the room's audience is read."""
        held = self._held.get(room)
        if held is None:
            work()
        else:
            held.append(work)

    def added(self, room: str, member_id: int) -> None:
        """Added to a private room: no access was lost, so no generation moved."""
        known = self._known.get(room)
        if known is not None:
            known.members.add(member_id)
        self._watchers.add_room(member_id, room)

    async def _read(self, room: str) -> None:
        try:
            members: set[int] = set()
            for _ in range(RECHECKS):
                generation = self._private.generation(room)
                try:
                    members = await self._store.room_member_ids(room)
                except StorageError as exc:
                    log.warning("could not read who is in %s: %s", room, exc)
                    members = set()  # fail closed: nobody hears of it until its next message
                    break
                if self._private.generation(room) == generation:
                    break
            self._known[room] = _Audience(generation, members)
            for member_id in self._watchers.forget_room(room) - members:
                self._reads.forget_room(member_id, room)
            self._levels.keep_only(room, members)
            for member_id in members:
                self._watchers.add_room(member_id, room)
        finally:
            for work in self._held.pop(room, []):
                try:
                    work()
                except Exception:  # one message's trouble must not stop the others'
                    log.exception("attention for %s failed", room)
