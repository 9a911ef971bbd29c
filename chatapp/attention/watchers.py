"""Who hears about which rooms besides the sockets in them: the in-memory index behind the
``activity`` frames.

For each member with a socket open, the rooms of their sidebar; for each room, the members
who have it there (and the guest sockets watching it). Building an activity frame's
audience is then one dict lookup a message, and sending it costs one ``enqueue`` of one
shared, pre-framed item per socket that gets it, as a broadcast does: nothing here is done
per recipient but handing over bytes. The index holds connected members only; it is built
from the sidebar query when a member's first socket joins and dropped with their last. Only
sockets that asked for it (the room page's, with ``sidebar=1``) are in it: a bot or a
command-line client logged in as a member hears about its own room only.

A socket never gets activity for the room it is open on: that room's chat frames reach it
already.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from ..connection import Item
from ..hub import Client


class Watchers:
    def __init__(self) -> None:
        self._rooms_of: dict[int, set[str]] = {}  # connected member -> sidebar rooms
        self._members_of: dict[str, set[int]] = {}  # room -> connected members with it in their sidebar
        self._sockets: dict[int, set[Client]] = {}  # member -> their sockets that asked (sidebar=1)
        self._guests_of: dict[str, set[Client]] = {}  # room -> guest sockets watching it
        self._guest_rooms: dict[Client, set[str]] = {}

    # ---- members ----

    def rooms_of(self, member_id: int) -> Collection[str]:
        return self._rooms_of.get(member_id, ())

    def connected(self, member_id: int) -> bool:
        return member_id in self._rooms_of

    def member_joined(self, client: Client, rooms: Iterable[str]) -> None:
        """A member's socket, with their sidebar as just read: it replaces what was known."""
        assert client.member_id is not None
        member_id = client.member_id
        self._sockets.setdefault(member_id, set()).add(client)
        fresh = set(rooms)
        old = self._rooms_of.get(member_id, set())
        for room in old - fresh:
            self._unlist(member_id, room)
        for room in fresh - old:
            self._members_of.setdefault(room, set()).add(member_id)
        self._rooms_of[member_id] = fresh

    def member_left(self, client: Client) -> None:
        member_id = client.member_id
        if member_id is None:
            return
        sockets = self._sockets.get(member_id)
        if sockets is None:
            return
        sockets.discard(client)
        if sockets:
            return
        del self._sockets[member_id]
        for room in self._rooms_of.pop(member_id, ()):
            self._unlist(member_id, room)

    def add_room(self, member_id: int, room: str) -> bool:
        """The room joined a connected member's sidebar; False if it was there (or they are not connected)."""
        rooms = self._rooms_of.get(member_id)
        if rooms is None or room in rooms:
            return False
        rooms.add(room)
        self._members_of.setdefault(room, set()).add(member_id)
        return True

    def drop_room(self, member_id: int, room: str) -> None:
        rooms = self._rooms_of.get(member_id)
        if rooms is not None and room in rooms:
            rooms.discard(room)
            self._unlist(member_id, room)

    def heard(self, room: str) -> bool:
        """Whether anyone at all has ``room`` in view (else a frame for it need not be built)."""
        return room in self._members_of or room in self._guests_of

    def members_of(self, room: str) -> Collection[int]:
        return self._members_of.get(room, ())

    def forget_room(self, room: str) -> set[int]:
        """Nobody hears about ``room`` any more (until :meth:`add_room`); who did. Guests too."""
        members = self._members_of.pop(room, set())
        for member_id in members:
            self._rooms_of[member_id].discard(room)
        for client in self._guests_of.pop(room, ()):
            self._guest_rooms[client].discard(room)
        return members

    def _unlist(self, member_id: int, room: str) -> None:
        members = self._members_of.get(room)
        if members is not None:
            members.discard(member_id)
            if not members:
                del self._members_of[room]

    # ---- guests ----

    def guest_watches(self, client: Client, rooms: Iterable[str]) -> None:
        """A guest socket's watched rooms, replacing what it watched before."""
        self.guest_left(client)
        fresh = set(rooms)
        self._guest_rooms[client] = fresh
        for room in fresh:
            self._guests_of.setdefault(room, set()).add(client)

    def guest_left(self, client: Client) -> None:
        for room in self._guest_rooms.pop(client, ()):
            guests = self._guests_of.get(room)
            if guests is not None:
                guests.discard(client)
                if not guests:
                    del self._guests_of[room]

    # ---- sending: never awaits, so nothing here changes while a loop runs ----

    def send(self, room: str, item: Item, sender: int | None, allowed: Collection[int] | None) -> None:
        """``item`` to everyone who has ``room`` in view but is not on it, but the sender.

        ``allowed`` None: anyone (a public room). Otherwise only those members hear of it
        (a private room's or a DM's), and no guest, whatever the sidebars say."""
        sockets = self._sockets
        for member_id in self._members_of.get(room, ()):
            if member_id != sender and (allowed is None or member_id in allowed):
                for client in sockets[member_id]:
                    if client.room != room:
                        client.out.enqueue(item)
        if allowed is None:
            for client in self._guests_of.get(room, ()):
                if client.room != room:
                    client.out.enqueue(item)

    def send_to(self, member_id: int, item: Item, *, off_room: str | None = None,
                exclude: Client | None = None) -> None:
        """``item`` to one member's sockets: those not on ``off_room`` when it is given (a
        mention), every one but ``exclude`` otherwise (a read position)."""
        for client in self._sockets.get(member_id, ()):
            if client is not exclude and client.room != off_room:
                client.out.enqueue(item)

    def __len__(self) -> int:
        return len(self._rooms_of) + len(self._guest_rooms)
