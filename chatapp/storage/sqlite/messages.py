"""Messages and rooms on SQLite: inserting batches, paging history by id, room flags.

Rooms exist once they hold a message or a flag; their counters are kept by triggers
(``migrations/``), so no page counts a large table. Pagination is by id, never OFFSET.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...models import Message, RoomEvent, RoomSummary, utc_now_iso
from ..records import NewRow
from .connection import Row, SQLiteBase

# A message with what its reply quotes: the original's sender and the start of its text,
# if it is still there and in the same room (a reply can never quote another room).
_MESSAGE_FIELDS = ("m.id", "m.room", "m.user", "m.body", "m.ts", "m.client_id", "m.member_id",
                   "m.edited_at", "m.reply_to", "m.reactions", "m.attachment", "m.bot_id", "m.html",
                   "r.user", "substr(r.body, 1, 200)")
MESSAGE_COLUMNS = ", ".join(_MESSAGE_FIELDS)
MESSAGE_WIDTH = len(_MESSAGE_FIELDS)  # where a row's own further columns start
FROM_MESSAGES = "messages AS m LEFT JOIN messages AS r ON r.id = m.reply_to AND r.room = m.room"
_INSERTED = "id, room, user, body, ts, client_id, member_id, edited_at, reply_to, reactions, attachment, bot_id, html"
_EVENT_COLUMNS = "id, room, kind, message_id, ts, data"
_ROOM_COLUMNS = "name, message_count, last_message_at, locked"
NEWEST = 2**62  # "before" this id means "the newest"


def message(row: Sequence[Any]) -> Message:
    return Message(int(row[0]), *row[1:])


def event(row: Sequence[Any]) -> RoomEvent:
    return RoomEvent(int(row[0]), row[1], row[2], row[3], row[4], row[5])


def _room(r: Row) -> RoomSummary:
    return RoomSummary(r[0], int(r[1]), r[2], bool(r[3]))


class MessagesMixin(SQLiteBase):
    async def insert_messages(self, rows: Sequence[NewRow]) -> list[Message]:
        # One statement is atomic in autocommit mode: one transaction and one fsync for
        # the whole batch. RETURNING gives the rows inserted, in VALUES order by id.
        values = ",".join(["(?,?,?,?,?,?,?,?,?,?)"] * len(rows))
        inserted = await self._write(
            "INSERT INTO messages (room, user, body, ts, client_id, member_id, reply_to, attachment, bot_id, html) "
            f"VALUES {values} ON CONFLICT DO NOTHING RETURNING {_INSERTED}",
            [value for row in rows for value in row],
        )
        stored = sorted((message(r) for r in inserted), key=lambda m: m.id)
        if stored:
            self._indexer.stored(stored[-1].id)
        if any(m.reply_to is not None for m in stored):
            stored = await self._with_quotes(stored)
        return stored

    async def _with_quotes(self, stored: list[Message]) -> list[Message]:
        """Fill in what each reply quotes (on the write connection: read-your-writes)."""
        wanted = sorted({m.reply_to for m in stored if m.reply_to is not None})
        marks = ",".join("?" * len(wanted))
        rows = await self._write(
            f"SELECT id, room, user, substr(body, 1, 200) FROM messages WHERE id IN ({marks})", wanted)
        quoted = {(r[0], r[1]): (r[2], r[3]) for r in rows}
        out = []
        for m in stored:
            q = quoted.get((m.reply_to, m.room))
            out.append(m._replace(reply_user=q[0], reply_excerpt=q[1]) if q else m)
        return out

    async def ids_in_room(self, room: str, ids: Iterable[int]) -> set[int]:
        wanted = list(ids)
        if not wanted:
            return set()
        marks = ",".join("?" * len(wanted))
        rows = await self._write(
            f"SELECT id FROM messages WHERE room = ? AND id IN ({marks})", [room, *wanted])
        return {int(r[0]) for r in rows}

    async def message(self, room: str, message_id: int) -> Message | None:
        rows = await self._write(
            f"SELECT {MESSAGE_COLUMNS} FROM {FROM_MESSAGES} WHERE m.id = ? AND m.room = ?", (message_id, room))
        return message(rows[0]) if rows else None

    # ---- the room's log of changes (migrations/0010): one INSERT each, applied by triggers

    async def _log(self, room: str, kind: str, message_id: int | None, ts: str, data: str | None,
                   where: str = "", params: Sequence[Any] = ()) -> RoomEvent | None:
        rows = await self._write(
            f"INSERT INTO room_events (id, room, kind, message_id, ts, data) "
            f"SELECT (SELECT id FROM next_event_id), ?, ?, ?, ?, ? {where} RETURNING {_EVENT_COLUMNS}",
            (room, kind, message_id, ts, data, *params))
        return event(rows[0]) if rows else None

    async def edit_message(self, room: str, message_id: int, body: str, ts: str, html: str) -> RoomEvent | None:
        logged = await self._log(room, "edit", message_id, ts, body,
                                 "WHERE EXISTS (SELECT 1 FROM messages WHERE id = ? AND room = ?)",
                                 (message_id, room))
        if logged is not None:  # the edit emptied html (migrations/0015); until this, it renders on reading
            await self._write("UPDATE messages SET html = ? WHERE id = ? AND body = ?", (html, message_id, body))
        return logged

    async def set_reactions(self, room: str, message_id: int, reactions: str | None, ts: str) -> RoomEvent | None:
        return await self._log(room, "reactions", message_id, ts, reactions,
                               "WHERE EXISTS (SELECT 1 FROM messages WHERE id = ? AND room = ?)",
                               (message_id, room))

    async def log_clear(self, room: str, ts: str) -> RoomEvent:
        # Nothing before a clear matters to a page catching up: the clear itself says it.
        await self._write("DELETE FROM room_events WHERE room = ?", (room,))
        logged = await self._log(room, "clear", None, ts, None)
        assert logged is not None
        return logged

    async def log_after(self, room: str, after: int, limit: int) -> tuple[list[Message | RoomEvent], bool]:
        """Messages and changes with id > after, in id order, up to ``limit``; and whether
        more follow. The two tables share one id sequence, so merging them is exact."""
        messages, more_messages = await self.after(room, after, limit)
        rows = await self._read(
            f"SELECT {_EVENT_COLUMNS} FROM room_events WHERE room = ? AND id > ? ORDER BY id LIMIT ?",
            (room, after, limit + 1))
        events = [event(r) for r in rows]
        merged: list[Message | RoomEvent] = sorted([*messages, *events[:limit]], key=lambda x: x.id)
        more = more_messages or len(events) > limit or len(merged) > limit
        if len(merged) > limit:
            merged = merged[:limit]
        return merged, more

    async def by_client_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Message]:
        # On the write connection: it runs right after that connection's own insert,
        # which a reader may not see yet.
        found: dict[tuple[str, str], Message] = {}
        for room, client_id in keys:
            rows = await self._write(
                f"SELECT {MESSAGE_COLUMNS} FROM {FROM_MESSAGES} WHERE m.room = ? AND m.client_id = ?",
                (room, client_id))
            if rows:
                found[(room, client_id)] = message(rows[0])
        return found

    async def recent(self, room: str, limit: int) -> list[Message]:
        rows = await self._read(
            f"SELECT {MESSAGE_COLUMNS} FROM {FROM_MESSAGES} WHERE m.room = ? ORDER BY m.id DESC LIMIT ?",
            (room, limit))
        # Every room page's read: a row is a Message as it comes (SQLite's ids are ints
        # already), without message()'s per-field call, a third of the cost of 50.
        return list(map(Message._make, reversed(rows)))

    async def before(self, room: str, before: int, limit: int) -> tuple[list[Message], bool]:
        """Up to ``limit`` messages with id < before, oldest first, and whether more precede them."""
        rows = await self._read(
            f"SELECT {MESSAGE_COLUMNS} FROM {FROM_MESSAGES} WHERE m.room = ? AND m.id < ? "
            "ORDER BY m.id DESC LIMIT ?",
            (room, before, limit + 1))
        return [message(r) for r in reversed(rows[:limit])], len(rows) > limit

    async def after(self, room: str, after: int, limit: int) -> tuple[list[Message], bool]:
        """Up to ``limit`` messages with id > after, oldest first, and whether more follow them."""
        rows = await self._read(
            f"SELECT {MESSAGE_COLUMNS} FROM {FROM_MESSAGES} WHERE m.room = ? AND m.id > ? ORDER BY m.id LIMIT ?",
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

    async def delete_message(self, room: str, message_id: int, ts: str | None = None) -> RoomEvent | None:
        """Delete one message, logged (so pages catching up remove it too); None if it is not there."""
        return await self._log(room, "delete", message_id, ts or utc_now_iso(), None,
                               "WHERE EXISTS (SELECT 1 FROM messages WHERE id = ? AND room = ?)",
                               (message_id, room))

    async def delete_some(self, room: str, limit: int) -> int:
        rows = await self._write(
            "DELETE FROM messages WHERE id IN "
            "(SELECT id FROM messages WHERE room = ? ORDER BY id LIMIT ?) RETURNING id",
            (room, limit))
        return len(rows)

    async def delete_room_row(self, room: str) -> None:
        await self._write("DELETE FROM room_events WHERE room = ?", (room,))
        await self._write("DELETE FROM rooms WHERE name = ?", (room,))
