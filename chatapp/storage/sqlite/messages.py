"""Messages and rooms on SQLite: inserting batches, paging history by id, room flags.

Rooms exist once they hold a message or a flag; their counters are kept by triggers
(``migrations/``), so no page counts a large table. Pagination is by id, never OFFSET.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...models import Message, RoomSummary, utc_now_iso
from ..base import NewRow
from .connection import Row, SQLiteBase

MESSAGE_COLUMNS = "id, room, user, body, ts, client_id, member_id"
_ROOM_COLUMNS = "name, message_count, last_message_at, locked"
NEWEST = 2**62  # "before" this id means "the newest"


def message(row: Sequence[Any]) -> Message:
    return Message(int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6])


def _room(r: Row) -> RoomSummary:
    return RoomSummary(r[0], int(r[1]), r[2], bool(r[3]))


class MessagesMixin(SQLiteBase):
    async def insert_messages(self, rows: Sequence[NewRow]) -> list[Message]:
        # One statement is atomic in autocommit mode: one transaction and one fsync for
        # the whole batch. RETURNING gives the rows inserted, in VALUES order by id.
        values = ",".join(["(?,?,?,?,?,?)"] * len(rows))
        inserted = await self._write(
            f"INSERT INTO messages (room, user, body, ts, client_id, member_id) VALUES {values} "
            f"ON CONFLICT DO NOTHING RETURNING {MESSAGE_COLUMNS}",
            [value for row in rows for value in row],
        )
        return sorted((message(r) for r in inserted), key=lambda m: m.id)

    async def by_client_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Message]:
        # On the write connection: it runs right after that connection's own insert,
        # which a reader may not see yet.
        found: dict[tuple[str, str], Message] = {}
        for room, client_id in keys:
            rows = await self._write(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = ? AND client_id = ?",
                (room, client_id))
            if rows:
                found[(room, client_id)] = message(rows[0])
        return found

    async def recent(self, room: str, limit: int) -> list[Message]:
        rows = await self._read(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = ? ORDER BY id DESC LIMIT ?",
            (room, limit))
        return [message(r) for r in reversed(rows)]

    async def before(self, room: str, before: int, limit: int) -> tuple[list[Message], bool]:
        """Up to ``limit`` messages with id < before, oldest first, and whether more precede them."""
        rows = await self._read(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (room, before, limit + 1))
        return [message(r) for r in reversed(rows[:limit])], len(rows) > limit

    async def after(self, room: str, after: int, limit: int) -> tuple[list[Message], bool]:
        """Up to ``limit`` messages with id > after, oldest first, and whether more follow them."""
        rows = await self._read(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = ? AND id > ? ORDER BY id LIMIT ?",
            (room, after, limit + 1))
        return [message(r) for r in rows[:limit]], len(rows) > limit

    async def count_after(self, room: str, after: int, limit: int) -> int:
        # The LIMIT inside bounds the walk of the (room, id) index, however far behind.
        rows = await self._read(
            "SELECT count(*) FROM (SELECT 1 FROM messages WHERE room = ? AND id > ? LIMIT ?)",
            (room, after, limit))
        return int(rows[0][0])

    async def around(self, room: str, at: int, limit: int) -> list[Message]:
        """About ``limit`` messages centred on id ``at``, oldest first."""
        older, _ = await self.before(room, at + 1, limit // 2 + 1)
        newer, _ = await self.after(room, at, limit - len(older))
        return older + newer

    async def room(self, name: str) -> RoomSummary | None:
        rows = await self._read(f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE name = ?", (name,))
        return _room(rows[0]) if rows else None

    async def locked_rooms(self) -> set[str]:
        return {r[0] for r in await self._read("SELECT name FROM rooms WHERE locked = 1")}

    async def set_locked(self, room: str, locked: bool) -> None:
        # An upsert: a room can be locked before anyone has posted in it.
        await self._write(
            "INSERT INTO rooms (name, created_at, locked) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET locked = excluded.locked",
            (room, utc_now_iso(), int(locked)))

    async def set_retention(self, room: str, days: int | None) -> None:
        await self._write(
            "INSERT INTO rooms (name, created_at, retention_days) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET retention_days = excluded.retention_days",
            (room, utc_now_iso(), days))

    async def delete_message(self, room: str, message_id: int) -> bool:
        rows = await self._write("DELETE FROM messages WHERE id = ? AND room = ? RETURNING id",
                                 (message_id, room))
        return bool(rows)

    async def delete_some(self, room: str, limit: int) -> int:
        rows = await self._write(
            "DELETE FROM messages WHERE id IN "
            "(SELECT id FROM messages WHERE room = ? ORDER BY id LIMIT ?) RETURNING id",
            (room, limit))
        return len(rows)

    async def delete_room_row(self, room: str) -> None:
        await self._write("DELETE FROM rooms WHERE name = ?", (room,))
