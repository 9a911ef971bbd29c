"""Moderation: lock, delete a message, clear and delete a room, in order with the chat.

Each change runs as an operation of the batch writer (:meth:`BatchWriter.run`), so it is
ordered with messages by one queue: a message sent before "clear" is stored before the
clear and removed by it; one sent after is checked against the room state the change
left (see :mod:`chatapp.rooms`). Large deletes go a chunk per operation, with the room
marked busy meanwhile, so chat in other rooms keeps flowing between the chunks and
nothing can be stored in this room until the change is complete. Each change is told
to the room's open sockets from inside the writer task, after the chat frames of the
messages stored before it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .cluster.node import ROOM_DELETED as ROOM_DELETED_EVENT
from .cluster.node import ROOM_LOCKED, ROOM_UNLOCKED, announce
from .keys import HUB, STORE, WRITER
from .models import dumps, utc_now_iso
from .privacy import PRIVATE_ROOMS

DELETE_CHUNK = 500  # rows per writer operation: chat elsewhere waits at most one chunk

ROOM_DELETED = 4000  # close code for the sockets of a deleted room (docs/protocol.md)


def _tell(app: web.Application, room: str, frame: dict[str, object]) -> None:
    app[HUB].broadcast(room, dumps(frame))


async def set_locked(app: web.Application, room: str, locked: bool) -> None:
    writer, storage = app[WRITER], app[STORE]

    async def apply() -> None:
        await storage.set_locked(room, locked)
        writer.rooms.set_locked(room, locked)
        _tell(app, room, {"type": "room", "room": room, "locked": locked})
        await announce(app, room, ROOM_LOCKED if locked else ROOM_UNLOCKED)  # other nodes, if any

    await writer.run(apply)


async def delete_message(app: web.Application, room: str, message_id: int) -> bool:
    storage = app[STORE]

    async def apply() -> bool:
        event = await storage.delete_message(room, message_id)
        if event is not None:
            app[HUB].publish_event(event)
        return event is not None

    return await app[WRITER].run(apply)


async def _empty_room(app: web.Application, room: str, then: Callable[[], Awaitable[None]]) -> int:
    """Delete every message of ``room``, a chunk per writer operation, with the room busy
    throughout; ``then`` runs in the same operation as the last chunk. How many went."""
    writer, storage = app[WRITER], app[STORE]
    busy = False

    async def begin() -> None:
        nonlocal busy
        writer.rooms.begin_busy(room)
        busy = True

    async def chunk() -> int:
        nonlocal busy
        n = await storage.delete_some(room, DELETE_CHUNK)
        if n < DELETE_CHUNK:
            await then()
            writer.rooms.end_busy(room)
            busy = False
        return n

    await writer.run(begin)
    deleted = 0
    try:
        while True:
            n = await writer.run(chunk)
            deleted += n
            if n < DELETE_CHUNK:
                return deleted
    finally:
        if busy:  # a failed chunk: the room takes messages again, what was deleted stays so
            writer.rooms.end_busy(room)


async def clear(app: web.Application, room: str) -> int:
    """Delete the room's history; returns how many messages went."""

    async def told() -> None:
        app[HUB].publish_event(await app[STORE].log_clear(room, utc_now_iso()))

    return await _empty_room(app, room, told)


async def delete_room(app: web.Application, room: str) -> int:
    """Delete the room, its messages and flags, and close its sockets with 4000."""
    storage, hub, rooms = app[STORE], app[HUB], app[WRITER].rooms

    async def gone() -> None:
        await storage.delete_room_row(room)
        # In one step with closing the sockets: a socket that joined before this is
        # closed and its late messages are refused; one that joins after starts afresh.
        rooms.deleted(room)
        app[PRIVATE_ROOMS].forget(room)  # a private room's name is free again, and public
        hub.close_room(room, ROOM_DELETED, b"room deleted")
        await announce(app, room, ROOM_DELETED_EVENT)

    return await _empty_room(app, room, gone)
