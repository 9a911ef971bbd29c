"""The room hub: who is connected to which room, presence, and broadcast.

A broadcast serialises a frame once, frames it once as WebSocket bytes, and hands the
same bytes to every member's :class:`~chatapp.connection.SocketWriter` without awaiting
anyone; each writer's queue is bounded, and the writers are flushed with one
``transport.write`` per socket per loop tick. How one socket's frames get onto the wire
(and what happens to a socket that stops reading) is :mod:`chatapp.connection`'s job.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Collection, Sequence
from typing import Protocol

from aiohttp import WSCloseCode

from .connection import Item, SocketWriter
from .flusher import Flusher
from .models import RoomEvent, dumps
from .resume import Page, ResumePages
from .wire import Run, ws_frame
from .writer import Stored

# Joins and leaves in a burst cost one presence frame: it goes out once the room's names
# have not changed for PRESENCE_DELAY seconds, or PRESENCE_MAX_DELAY after the first change
# if they keep changing (a reconnect storm brings a room's 50 pages back over ~2 s: three
# frames to each of them instead of a dozen, each a write to every socket of the room).
PRESENCE_DELAY = 0.2
PRESENCE_MAX_DELAY = 1.0
PRESENCE_NAMES = 200  # names listed in a presence frame; ``count`` is always exact


class RemotePresence(Protocol):
    """Who is here on the other nodes of a cluster (chatapp.cluster.presence, over Redis)."""

    def merged(self, room: str, names: Collection[str],
               guests: Collection[str]) -> tuple[Collection[str], Collection[str]]: ...
    def local_changed(self, room: str) -> None: ...
    def typing(self, room: str, user: str) -> None: ...


class Client:
    """One socket in one room: who it is (a member's id, or None for a guest), and ``out``,
    the writer everything it is sent goes through."""

    __slots__ = ("addr", "member_id", "out", "room", "user")

    def __init__(self, out: SocketWriter, room: str, user: str, addr: str,
                 member_id: int | None = None) -> None:
        self.out = out
        self.room = room
        self.user = user
        self.addr = addr
        self.member_id = member_id

    def __repr__(self) -> str:
        return f"<Client #{self.out.id} {self.room}/{self.user} from {self.addr}>"


class _PendingPresence:
    """A room's presence frame waiting to go out: since when its names change, the last
    change, and the timer."""

    __slots__ = ("first", "last", "timer")

    def __init__(self, now: float, timer: asyncio.TimerHandle) -> None:
        self.first = self.last = now
        self.timer = timer


class Hub:
    """Rooms and their members, who is here, and handing frames to every member."""

    def __init__(self) -> None:
        self.rooms: dict[str, set[Client]] = {}
        self.per_addr: collections.Counter[str] = collections.Counter()
        self.total = 0
        self._names: dict[str, collections.Counter[str]] = {}  # room -> name -> sockets
        self._guests: dict[str, collections.Counter[str]] = {}  # room -> guest name -> sockets
        self._by_member: dict[int, set[Client]] = {}  # member id -> their sockets, in any room
        self._presence_frames: dict[str, bytes] = {}
        self._presence_pending: dict[str, _PendingPresence] = {}
        self.flusher = Flusher()  # shared by every socket's writer: one flush pass per tick
        self.remote: RemotePresence | None = None  # the other nodes' names; None: this node alone
        # Resuming sockets' first pages (chatapp.ws), kept while nothing is published to the room.
        self.resume: ResumePages[Page] = ResumePages()

    def join(self, client: Client) -> None:
        room = client.room
        self.rooms.setdefault(room, set()).add(client)
        self.per_addr[client.addr] += 1
        self.total += 1
        if client.member_id is None:
            self._guests.setdefault(room, collections.Counter())[client.user] += 1
        else:
            self._by_member.setdefault(client.member_id, set()).add(client)
        names = self._names.setdefault(room, collections.Counter())
        names[client.user] += 1
        if names[client.user] == 1:
            # A new name: everyone, the newcomer included, gets the new list shortly.
            self._presence_changed(room)
        else:
            # A second tab: nothing changed for the room, the newcomer gets the list now.
            client.out.send(self._presence_frame(room))

    def leave(self, client: Client) -> None:
        room = client.room
        members = self.rooms.get(room)
        if members is None or client not in members:
            return
        members.discard(client)
        self.per_addr[client.addr] -= 1
        if self.per_addr[client.addr] <= 0:
            del self.per_addr[client.addr]
        self.total -= 1
        if client.member_id is None:
            guests = self._guests[room]
            guests[client.user] -= 1
            if guests[client.user] <= 0:
                del guests[client.user]
        else:
            sockets = self._by_member.get(client.member_id, set())
            sockets.discard(client)
            if not sockets:
                self._by_member.pop(client.member_id, None)
        names = self._names[room]
        names[client.user] -= 1
        if names[client.user] <= 0:
            del names[client.user]
            self._presence_changed(room)
        if not members:
            del self.rooms[room]
            del self._names[room]
            self._guests.pop(room, None)
            self._presence_frames.pop(room, None)

    def connections(self, room: str) -> int:
        return len(self.rooms.get(room, ()))

    def presence(self, room: str) -> dict[str, object]:
        """Who is here: distinct names (two tabs count once), at most PRESENCE_NAMES listed.

        ``members`` (only when there are any) lists which of those names are members'; the
        others are guests'. Guests only, the frame is what it was before accounts existed."""
        all_names: Collection[str] = self._names.get(room, collections.Counter())
        guests: Collection[str] = self._guests.get(room, collections.Counter())
        if self.remote is not None:
            all_names, guests = self.remote.merged(room, all_names, guests)
        names = sorted(all_names, key=str.casefold)[:PRESENCE_NAMES]
        frame: dict[str, object] = {"type": "presence", "room": room, "users": names, "count": len(all_names)}
        members = [n for n in names if n not in guests]
        if members:
            frame["members"] = members
        return frame

    def _presence_frame(self, room: str) -> bytes:
        frame = self._presence_frames.get(room)
        if frame is None:
            frame = self._presence_frames[room] = ws_frame(dumps(self.presence(room)))
        return frame

    def local_names(self, room: str) -> tuple[list[str], list[str]]:
        """The names with a socket in ``room`` on this node, and which of them are guests'."""
        return list(self._names.get(room, ())), list(self._guests.get(room, ()))

    def _presence_changed(self, room: str) -> None:
        if self.remote is not None:
            self.remote.local_changed(room)
        self.presence_changed(room)

    def presence_changed(self, room: str) -> None:
        """The room's names changed (here, or on another node): send the new list shortly."""
        # Building the list is O(room size), so joins and leaves in a burst share one frame:
        # connecting 10,000 sockets stays linear instead of quadratic.
        self._presence_frames.pop(room, None)
        loop = asyncio.get_running_loop()
        pending = self._presence_pending.get(room)
        if pending is not None:
            pending.last = loop.time()  # the timer looks at it when it fires: nothing to re-arm now
            return
        now = loop.time()
        self._presence_pending[room] = _PendingPresence(
            now, loop.call_at(now + PRESENCE_DELAY, self._presence_due, room))

    def _presence_due(self, room: str) -> None:
        pending = self._presence_pending.get(room)
        if pending is None:
            return
        loop = asyncio.get_running_loop()
        due = min(pending.last + PRESENCE_DELAY, pending.first + PRESENCE_MAX_DELAY)
        if due > loop.time():  # changed again meanwhile: wait for a quiet moment, or the most
            pending.timer = loop.call_at(due, self._presence_due, room)
            return
        del self._presence_pending[room]
        if room in self.rooms:
            self.broadcast(room, self._presence_frame(room))

    def broadcast(self, room: str, frame: str | bytes, msg_id: int | None = None,
                  exclude: Client | None = None) -> None:
        members = self.rooms.get(room)
        if not members:
            return
        data = frame if isinstance(frame, bytes) else ws_frame(frame)
        # One tuple for the whole room: a writer batch of 100 messages to 2,000 sockets
        # otherwise made 200,000 tuples (~11 MiB) that lived until the next flush.
        self._enqueue(members, (msg_id, data), exclude)

    @staticmethod
    def _enqueue(members: set[Client], item: Item | Run, exclude: Client | None = None) -> None:
        # enqueue() never awaits and never leaves the room, so the set cannot change under us.
        for client in members:
            if client is not exclude:
                client.out.enqueue(item)

    def typing(self, client: Client) -> None:
        """``client`` is typing: the room's other sockets are told, here and on other nodes."""
        self.broadcast(client.room, dumps({"type": "typing", "user": client.user, "room": client.room}),
                       exclude=client)
        if self.remote is not None:
            self.remote.typing(client.room, client.user)

    def publish(self, stored: Sequence[Stored]) -> None:
        """The writer's callback: committed messages, in id order, to their rooms. A room's
        messages of one batch reach each of its sockets as one :class:`~chatapp.wire.Run`
        (nothing else is queued to a socket while this runs, so the order is the same)."""
        if len(stored) == 1:
            self.resume.changed(stored[0].message.room)
            self.broadcast(stored[0].message.room, stored[0].text, stored[0].message.id)
            return
        runs: dict[str, list[tuple[int, bytes]]] = {}
        rooms = self.rooms
        for s in stored:
            room = s.message.room
            self.resume.changed(room)
            if room in rooms:
                runs.setdefault(room, []).append((s.message.id, ws_frame(s.text)))
        for room, items in runs.items():
            self._enqueue(rooms[room], items[0] if len(items) == 1 else Run.of(items))

    def publish_event(self, event: RoomEvent) -> None:
        """A logged change (an edit, a delete, reactions, a clear), at its place in the log:
        its id orders it with chat frames, so a page catching up gets it once."""
        self.resume.changed(event.room)
        self.broadcast(event.room, event.frame_text(), event.id)

    def has_member(self, member_id: int) -> bool:
        """Whether the member has a socket open, in any room (then a page of theirs is there
        to tell them things, and Web Push keeps quiet: chatapp.push)."""
        return member_id in self._by_member

    def close_member(self, member_id: int, code: int, reason: bytes) -> int:
        """Close every socket of one member, in every room; how many."""
        sockets = tuple(self._by_member.get(member_id, ()))
        for client in sockets:
            client.out.close(code, reason)
        return len(sockets)

    def close_member_in(self, room: str, member_id: int, code: int, reason: bytes) -> int:
        """Close one member's sockets to one room (removed from it: chatapp.privacy); how many."""
        sockets = [c for c in self._by_member.get(member_id, ()) if c.room == room]
        for client in sockets:
            client.out.close(code, reason)
        return len(sockets)

    def close_room(self, room: str, code: int, reason: bytes) -> None:
        self.resume.changed(room)
        for client in tuple(self.rooms.get(room, ())):
            client.out.close(code, reason)

    async def close_all(self, timeout: float) -> None:
        """Flush every queue, close every socket with 1001, abort what does not finish."""
        writers = [c.out for members in self.rooms.values() for c in members]
        for pending in self._presence_pending.values():
            pending.timer.cancel()
        self._presence_pending.clear()
        for w in writers:
            w.close(WSCloseCode.GOING_AWAY, b"server shutting down", timeout=timeout)
        if not writers:
            return
        await asyncio.wait([asyncio.ensure_future(w.wait_closed()) for w in writers], timeout=timeout + 1)
        for w in writers:
            if not w.closed:
                w.abort()
