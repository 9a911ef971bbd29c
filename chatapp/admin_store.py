"""Every SQL statement the admin runs: room figures, moderation writes and the audit log.

Writes go through ``store.writer``, the connection that owns writes; aiosqlite runs its
calls one at a time, so they queue behind (never interleave inside) a batch of chat
messages. Each write here is one autocommit statement on purpose: an explicit
BEGIN … COMMIT spread over several awaits would let the chat writer's inserts slip into
our transaction, and a rollback would then take back messages people already saw.
Large deletes go in chunks so the chat in other rooms keeps flowing meanwhile.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

from .models import Message, utc_now_iso
from .store import Store

DELETE_CHUNK = 500  # rows per DELETE: ~20 ms each, so chat elsewhere waits at most that long

_ROOM_COLUMNS = (
    "r.name, r.message_count, r.last_message_at, r.locked, r.retention_days, "
    "(SELECT COUNT(DISTINCT m.user) FROM messages m WHERE m.room = r.name AND m.ts >= ?)"
)


class RoomStats(NamedTuple):
    name: str
    message_count: int
    last_message_at: str | None
    locked: bool
    retention_days: int | None
    names_24h: int


class AuditEntry(NamedTuple):
    id: int
    at: str
    action: str
    room: str | None
    message_id: int | None
    client: str
    detail: str | None


def _room(row: Any) -> RoomStats:
    return RoomStats(row[0], int(row[1]), row[2], bool(row[3]),
                     None if row[4] is None else int(row[4]), int(row[5]))


async def room_stats(store: Store, since: str) -> list[RoomStats]:
    """Every stored room with its figures; ``since`` bounds the distinct-names count."""
    rows = await store.reader.execute_fetchall(f"SELECT {_ROOM_COLUMNS} FROM rooms r", (since,))
    return [_room(r) for r in rows]


async def room_stat(store: Store, room: str, since: str) -> RoomStats | None:
    rows = list(await store.reader.execute_fetchall(
        f"SELECT {_ROOM_COLUMNS} FROM rooms r WHERE r.name = ?", (since, room)))
    return _room(rows[0]) if rows else None


def database_bytes(db: str) -> int:
    """Bytes on disk: the database file and its write-ahead log (blocking; run in a thread)."""
    total = 0
    for path in (Path(db), Path(db + "-wal")):
        try:
            total += os.stat(path).st_size
        except FileNotFoundError:
            pass
    return total


async def recent_messages(store: Store, room: str, before: int | None,
                          limit: int) -> tuple[list[Message], bool]:
    """Up to ``limit`` messages before id ``before`` (or the newest), newest first."""
    messages, more = await store.before(room, before if before is not None else 2**62, limit)
    return list(reversed(messages)), more


async def delete_message(store: Store, room: str, message_id: int) -> bool:
    rows = list(await store.writer.execute_fetchall(
        "DELETE FROM messages WHERE id = ? AND room = ? RETURNING id", (message_id, room)))
    return bool(rows)


async def delete_messages(store: Store, room: str) -> int:
    """Delete all of a room's messages, a chunk at a time; the triggers keep its count right."""
    deleted = 0
    while True:
        rows = list(await store.writer.execute_fetchall(
            "DELETE FROM messages WHERE id IN "
            "(SELECT id FROM messages WHERE room = ? ORDER BY id LIMIT ?) RETURNING id",
            (room, DELETE_CHUNK),
        ))
        deleted += len(rows)
        if len(rows) < DELETE_CHUNK:
            break
    await store.writer.execute_fetchall(
        "UPDATE rooms SET last_message_at = NULL WHERE name = ? AND message_count = 0", (room,))
    return deleted


async def delete_room(store: Store, room: str) -> int:
    deleted = await delete_messages(store, room)
    await store.writer.execute_fetchall("DELETE FROM rooms WHERE name = ?", (room,))
    return deleted


async def set_locked(store: Store, room: str, locked: bool) -> None:
    # An upsert: a room can be locked before anyone has posted in it.
    await store.writer.execute_fetchall(
        "INSERT INTO rooms (name, created_at, locked) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET locked = excluded.locked",
        (room, utc_now_iso(), int(locked)),
    )


async def set_retention(store: Store, room: str, days: int | None) -> None:
    """Keep the room's messages ``days`` days, or forever when None."""
    await store.writer.execute_fetchall(
        "INSERT INTO rooms (name, created_at, retention_days) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET retention_days = excluded.retention_days",
        (room, utc_now_iso(), days),
    )


async def record(store: Store, action: str, client: str, *, room: str | None = None,
                 message_id: int | None = None, detail: str | None = None) -> None:
    await store.writer.execute_fetchall(
        "INSERT INTO audit_log (at, action, room, message_id, client, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (utc_now_iso(), action, room, message_id, client, detail),
    )


async def audit_entries(store: Store, before: int | None, limit: int) -> tuple[list[AuditEntry], bool]:
    """Newest first, ``limit`` at a time, paged by id."""
    rows = list(await store.reader.execute_fetchall(
        "SELECT id, at, action, room, message_id, client, detail FROM audit_log "
        "WHERE id < ? ORDER BY id DESC LIMIT ?",
        (before if before is not None else 2**62, limit + 1),
    ))
    entries = [AuditEntry(int(r[0]), r[1], r[2], r[3], None if r[4] is None else int(r[4]), r[5], r[6])
               for r in rows[:limit]]
    return entries, len(rows) > limit
