"""Room state: which rooms take new messages right now. One owner, one set of rules.

- **locked** (kept in the database): an operator made the room read-only.
- **busy** (in memory): an operator's clear or delete is running; sends are refused
  until it ends, so no message can land between its steps.
- **epoch** (in memory): bumped when a room is deleted. A socket remembers the epoch it
  joined in; a message from a socket of a deleted room is refused, so a message in
  flight cannot bring the room back.
- **known** (in memory, bounded): rooms recently seen stored, so the writer asks the
  database whether a message creates a room (and counts it against its sender's room
  allowance) only for rooms it has not seen lately. Forgotten when a room is deleted.

Only moderation, running as operations of the single writer (see
:mod:`chatapp.moderation`), changes this state, and the writer checks it when it
commits a batch: moderation and messages are ordered by one queue.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

KNOWN_ROOMS = 4096  # rooms remembered as stored; the least recently used go first


class RoomState:
    def __init__(self, locked: Iterable[str] = ()) -> None:
        self._locked = set(locked)
        self._busy: collections.Counter[str] = collections.Counter()
        self._epochs: dict[str, int] = {}
        self._known: collections.OrderedDict[str, None] = collections.OrderedDict()

    def is_locked(self, room: str) -> bool:
        return room in self._locked

    def epoch(self, room: str) -> int:
        return self._epochs.get(room, 0)

    def refusal(self, room: str, epoch: int | None = None) -> str | None:
        """Why a message to ``room`` (from a socket that joined in ``epoch``) cannot be
        stored now, as an error code; None when it can."""
        if epoch is not None and epoch != self._epochs.get(room, 0):
            return "room_deleted"
        if room in self._locked or room in self._busy:
            return "room_locked"
        return None

    def known(self, room: str) -> bool:
        """Whether ``room`` was seen stored lately (a hint: False means "ask the database")."""
        if room in self._known:
            self._known.move_to_end(room)
            return True
        return False

    def remember(self, rooms: Iterable[str]) -> None:
        for room in rooms:
            self._known[room] = None
            self._known.move_to_end(room)
        while len(self._known) > KNOWN_ROOMS:
            self._known.popitem(last=False)

    # ---- changed by moderation only ----

    def set_locked(self, room: str, locked: bool) -> None:
        if locked:
            self._locked.add(room)
        else:
            self._locked.discard(room)

    def sync_locked(self, locked: Iterable[str]) -> None:
        """Exactly these rooms are locked (a cluster node re-reads them as it starts following
        the other nodes' changes: chatapp.cluster)."""
        self._locked = set(locked)

    def begin_busy(self, room: str) -> None:
        self._busy[room] += 1

    def end_busy(self, room: str) -> None:
        self._busy[room] -= 1
        if self._busy[room] <= 0:
            del self._busy[room]

    def deleted(self, room: str) -> None:
        """The room and its flags are gone: a room of that name starts afresh, open."""
        self._locked.discard(room)
        self._known.pop(room, None)
        self._epochs[room] = self._epochs.get(room, 0) + 1
