"""Messages on PostgreSQL: inserting batches, the room's log of changes, history by id,
room flags (the same contract as :mod:`chatapp.storage.sqlite.messages`).

Every write that adds to a room's log (a batch of messages, an edit, a reaction, a delete,
a clear) is one :meth:`_log_transaction`: shard locked, ids drawn, rows inserted, commit,
NOTIFY. The schema's triggers keep the counters and apply each event as it is inserted,
as SQLite's do. Reads that merge messages and events run as one statement, so they see one
snapshot: two statements could see an event committed between them and miss the message
before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...models import Message, RoomEvent, RoomSummary, utc_now_iso
from ..records import NewRow
from .connection import PostgresBase, Record

# A message with what its reply quotes: the original's sender and the start of its text,
# if it is still there and in the same room.
_MESSAGE_FIELDS = ("m.id", "m.room", 'm."user"', "m.body", "m.ts", "m.client_id", "m.member_id",
                   "m.edited_at", "m.reply_to", "m.reactions", "m.attachment", "m.bot_id", "m.html",
                   'r."user"', "substr(r.body, 1, 200)")
MESSAGE_COLUMNS = ", ".join(_MESSAGE_FIELDS)
MESSAGE_WIDTH = len(_MESSAGE_FIELDS)  # where a row's own further columns start
FROM_MESSAGES = "messages AS m LEFT JOIN messages AS r ON r.id = m.reply_to AND r.room = m.room"
_INSERTED = ('id, room, "user", body, ts, client_id, member_id, edited_at, reply_to, reactions, '
             'attachment, bot_id, html')
_EVENT_COLUMNS = "id, room, kind, message_id, ts, data"
_ROOM_COLUMNS = "name, message_count, last_message_at, locked"
NEWEST = 2**62  # "before" this id means "the newest"
# The events pages are sent; the others in room_events are for nodes (chatapp/cluster/node.py,
# migrations/postgres/0002_node_events.sql), read only by log_after_shard.
PAGE_KINDS = "('edit', 'delete', 'reactions', 'clear')"

# One log row: a message's columns, then an event's kind, message_id and data (NULL for a
# message: its kind is NULL). Used as a UNION ALL of the two tables, in one snapshot.
_LOG_MESSAGE = (f"SELECT {MESSAGE_COLUMNS}, NULL::text AS kind, NULL::bigint AS message_id, "
                f"NULL::text AS data FROM {FROM_MESSAGES}")
_LOG_EVENT = (f"SELECT e.id, e.room, {'NULL, ' * 2}e.ts, {'NULL, ' * (MESSAGE_WIDTH - 5)}"
              "e.kind, e.message_id, e.data FROM room_events AS e")


def message(row: Sequence[Any]) -> Message:
    return Message(int(row[0]), *row[1:MESSAGE_WIDTH])


def event(row: Sequence[Any]) -> RoomEvent:
    return RoomEvent(int(row[0]), row[1], row[2], row[3], row[4], row[5])


def log_entry(row: Record) -> Message | RoomEvent:
    if row[MESSAGE_WIDTH] is None:
        return message(row)
    return RoomEvent(int(row[0]), row[1], row[MESSAGE_WIDTH], row[MESSAGE_WIDTH + 1], row[4], row[MESSAGE_WIDTH + 2])


def log_sql(message_where: str, event_where: str) -> str:
    """Messages and events matching the conditions (written over ``m`` and ``e``), in id
    order, the last parameter the limit: one statement, so one snapshot."""
    return (f"({_LOG_MESSAGE} WHERE {message_where} ORDER BY m.id LIMIT $LIMIT) UNION ALL "
            f"({_LOG_EVENT} WHERE {event_where} ORDER BY e.id LIMIT $LIMIT) ORDER BY 1 LIMIT $LIMIT")


def _room(r: Record) -> RoomSummary:
    return RoomSummary(r[0], int(r[1]), r[2], bool(r[3]))


class MessagesMixin(PostgresBase):
    async def insert_messages(self, rows: Sequence[NewRow]) -> list[Message]:
        if not rows:
            return []
        columns = list(zip(*rows, strict=True))
        async with self._log_transaction({r.room for r in rows}) as conn:
            # The BEFORE trigger draws each id as its row is inserted, in ORDER BY n: rows order.
            inserted = await conn.fetch(
                'INSERT INTO messages (room, "user", body, ts, client_id, member_id, reply_to, attachment, bot_id, '
                "html) "
                "SELECT room, u, body, ts, client_id, member_id, reply_to, attachment, bot_id, html FROM unnest("
                "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], "
                "$8::text[], $9::bigint[], $10::text[]) WITH ORDINALITY "
                "AS t(room, u, body, ts, client_id, member_id, reply_to, attachment, bot_id, html, n) ORDER BY n "
                f"ON CONFLICT DO NOTHING RETURNING {_INSERTED}",
                *(list(c) for c in columns))
            stored = sorted((message(r) for r in inserted), key=lambda m: m.id)
            if any(m.reply_to is not None for m in stored):
                stored = await self._with_quotes(conn, stored)
        return stored

    async def _with_quotes(self, conn: Any, stored: list[Message]) -> list[Message]:
        """Fill in what each reply quotes."""
        wanted = sorted({m.reply_to for m in stored if m.reply_to is not None})
        rows = await conn.fetch(
            'SELECT id, room, "user", substr(body, 1, 200) FROM messages WHERE id = ANY($1::bigint[])', wanted)
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
        rows = await self._fetch("SELECT id FROM messages WHERE room = $1 AND id = ANY($2::bigint[])", room, wanted)
        return {int(r[0]) for r in rows}

    async def message(self, room: str, message_id: int) -> Message | None:
        row = await self._fetchrow(
            f"SELECT {MESSAGE_COLUMNS} FROM {FROM_MESSAGES} WHERE m.id = $1 AND m.room = $2", message_id, room)
        return message(row) if row else None

    # ---- the room's log of changes: one INSERT each, applied by the schema's trigger

    async def _log(self, room: str, kind: str, message_id: int | None, ts: str, data: str | None,
                   must_exist: bool = True, clear: bool = False, html: str | None = None) -> RoomEvent | None:
        exists = "WHERE EXISTS (SELECT 1 FROM messages WHERE id = $3 AND room = $1)" if must_exist else ""
        async with self._log_transaction([room]) as conn:
            if clear:  # nothing before a clear matters to a page catching up: the clear says it
                # Node events stay: a node still behind the log must read them (chatapp.cluster).
                await conn.execute(f"DELETE FROM room_events WHERE room = $1 AND kind IN {PAGE_KINDS}", room)
            row = await conn.fetchrow(
                "INSERT INTO room_events (room, kind, message_id, ts, data) "
                f"SELECT $1, $2, $3::bigint, $4, $5 {exists} RETURNING {_EVENT_COLUMNS}",
                room, kind, message_id, ts, data)
            if row is not None and html is not None:
                # The edit emptied html (migrations/postgres/0015); the new one goes in with it.
                await conn.execute("UPDATE messages SET html = $1 WHERE id = $2 AND body = $3", html, message_id, data)
        return event(row) if row else None

    async def edit_message(self, room: str, message_id: int, body: str, ts: str, html: str) -> RoomEvent | None:
        return await self._log(room, "edit", message_id, ts, body, html=html)

    async def set_reactions(self, room: str, message_id: int, reactions: str | None, ts: str) -> RoomEvent | None:
        return await self._log(room, "reactions", message_id, ts, reactions)

    async def log_clear(self, room: str, ts: str) -> RoomEvent:
        logged = await self._log(room, "clear", None, ts, None, must_exist=False, clear=True)
        assert logged is not None
        return logged

    async def delete_message(self, room: str, message_id: int, ts: str | None = None) -> RoomEvent | None:
        """Delete one message, logged (so pages catching up remove it too); None if it is not there."""
        return await self._log(room, "delete", message_id, ts or utc_now_iso(), None)

    async def log_after(self, room: str, after: int, limit: int) -> tuple[list[Message | RoomEvent], bool]:
        """Messages and changes with id > after, in id order, up to ``limit``; and whether more follow."""
        rows = await self._fetch(
            log_sql("m.room = $1 AND m.id > $2", f"e.room = $1 AND e.id > $2 AND e.kind IN {PAGE_KINDS}")
            .replace("$LIMIT", "$3"),
            room, after, limit + 1)
        return [log_entry(r) for r in rows[:limit]], len(rows) > limit

    async def by_client_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Message]:
        pairs = list(keys)
        if not pairs:
            return {}
        rows = await self._fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM {FROM_MESSAGES} "
            "JOIN unnest($1::text[], $2::text[]) AS k(room, client_id) "
            "ON m.room = k.room AND m.client_id = k.client_id",
            [p[0] for p in pairs], [p[1] for p in pairs])
        return {(r[1], r[5]): message(r) for r in rows}

    async def recent(self, room: str, limit: int) -> list[Message]:
        rows = await self._fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM {FROM_MESSAGES} WHERE m.room = $1 ORDER BY m.id DESC LIMIT $2",
            room, limit)
        return [message(r) for r in reversed(rows)]

    async def before(self, room: str, before: int, limit: int) -> tuple[list[Message], bool]:
        """Up to ``limit`` messages with id < before, oldest first, and whether more precede them."""
        rows = await self._fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM {FROM_MESSAGES} WHERE m.room = $1 AND m.id < $2 "
            "ORDER BY m.id DESC LIMIT $3", room, before, limit + 1)
        return [message(r) for r in reversed(rows[:limit])], len(rows) > limit

    async def after(self, room: str, after: int, limit: int) -> tuple[list[Message], bool]:
        """Up to ``limit`` messages with id > after, oldest first, and whether more follow them."""
        rows = await self._fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM {FROM_MESSAGES} WHERE m.room = $1 AND m.id > $2 ORDER BY m.id LIMIT $3",
            room, after, limit + 1)
        return [message(r) for r in rows[:limit]], len(rows) > limit

    async def count_after(self, room: str, after: int, limit: int) -> int:
        # The LIMIT inside bounds the walk of the (room, id) index, however far behind.
        row = await self._fetchrow(
            "SELECT count(*) FROM (SELECT 1 FROM messages WHERE room = $1 AND id > $2 LIMIT $3) AS s",
            room, after, limit)
        return int(row[0]) if row else 0

    async def around(self, room: str, at: int, limit: int) -> list[Message]:
        """About ``limit`` messages centred on id ``at``, oldest first."""
        older, _ = await self.before(room, at + 1, limit // 2 + 1)
        newer, _ = await self.after(room, at, limit - len(older))
        return older + newer

    async def room(self, name: str) -> RoomSummary | None:
        row = await self._fetchrow(f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE name = $1", name)
        return _room(row) if row else None

    async def locked_rooms(self) -> set[str]:
        return {r[0] for r in await self._fetch("SELECT name FROM rooms WHERE locked = 1")}

    async def set_locked(self, room: str, locked: bool) -> None:
        # An upsert: a room can be locked before anyone has posted in it.
        await self._fetch(
            "INSERT INTO rooms (name, created_at, locked) VALUES ($1, $2, $3) "
            "ON CONFLICT (name) DO UPDATE SET locked = excluded.locked", room, utc_now_iso(), int(locked))

    async def set_retention(self, room: str, days: int | None) -> None:
        await self._fetch(
            "INSERT INTO rooms (name, created_at, retention_days) VALUES ($1, $2, $3) "
            "ON CONFLICT (name) DO UPDATE SET retention_days = excluded.retention_days", room, utc_now_iso(), days)

    async def delete_some(self, room: str, limit: int) -> int:
        rows = await self._fetch(
            "DELETE FROM messages WHERE id IN "
            "(SELECT id FROM messages WHERE room = $1 ORDER BY id LIMIT $2) RETURNING id", room, limit)
        return len(rows)

    async def delete_room_row(self, room: str) -> None:
        async with self._transaction() as conn:
            await conn.execute("DELETE FROM room_events WHERE room = $1", room)
            await conn.execute("DELETE FROM rooms WHERE name = $1", room)
