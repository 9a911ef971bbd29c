"""Attention on SQLite: sidebars with unread and mention counts, read positions, notification
levels and mentions (what they are for: :mod:`chatapp.attention`; the schema:
``migrations/0013_attention.sql``).

Every count is bounded: a correlated subquery walks an index with a ``LIMIT`` inside, so a
room 100,000 messages behind costs what one 100 behind does, and the page shows "99+".
Private rooms and DMs are checked against ``room_members`` inside each query, so a room a
member lost access to never comes back from here, whatever rows are left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..records import MentionHit, MentionWanted, SidebarRoom
from .connection import SQLiteBase
from .messages import MESSAGE_COLUMNS, MESSAGE_WIDTH, message

# SQLite binds at most 32,766 variables per statement; a read-position flush binds three a row.
_POSITIONS_PER_STATEMENT = 5000
LEVELS = ("all", "mentions", "nothing")

# A non-public room is seen only by its members (a room with no row yet is a public room
# nobody has posted in, unless its name is a DM's: those exist only as rows).
_VISIBLE_TO = """CASE WHEN {r}.name IS NULL THEN substr({room}, 1, 3) <> 'dm-'
    WHEN {r}.visibility = 'public' THEN 1
    ELSE EXISTS (SELECT 1 FROM room_members rm WHERE rm.room = {room} AND rm.member_id = {member}) END"""


def default_level(visibility: str) -> str:
    """A DM tells its two people about every message; any other room only about mentions."""
    return "all" if visibility == "dm" else "mentions"


class AttentionMixin(SQLiteBase):
    async def sidebar(self, member_id: int, limit: int, count_limit: int) -> list[SidebarRoom]:
        # The inner query picks the rooms (one seek of the member's rows, each checked),
        # the outer one counts for those only: at most ``limit`` rooms, each count bounded.
        rows = await self._read(
            "SELECT s.room, s.visibility, "
            " (SELECT mb.name FROM room_members o JOIN members mb ON mb.id = o.member_id "
            "  WHERE s.visibility = 'dm' AND o.room = s.room AND o.member_id <> s.member_id), "
            " s.last_read, s.level, "
            " (SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.room = s.room AND m.id > s.last_read LIMIT ?)), "
            " (SELECT count(*) FROM (SELECT 1 FROM mentions x WHERE x.member_id = s.member_id AND x.room = s.room "
            "   AND x.message_id > s.last_read LIMIT ?)), "
            " coalesce((SELECT max(m.id) FROM messages m WHERE m.room = s.room), 0), s.last_message_at "
            "FROM (SELECT a.member_id, a.room, coalesce(r.visibility, 'public') AS visibility, a.last_read, a.level, "
            "      r.last_message_at, coalesce(r.active_at, '') AS active "
            "      FROM attention a LEFT JOIN rooms r ON r.name = a.room "
            f"     WHERE a.member_id = ? AND {_VISIBLE_TO.format(r='r', room='a.room', member='a.member_id')} "
            "      ORDER BY active DESC, a.room LIMIT ?) AS s "
            "ORDER BY s.active DESC, s.room",
            (count_limit, count_limit, member_id, limit))
        return list(map(SidebarRoom._make, rows))  # the columns in its order; SQLite's integers are ints

    async def join_sidebar(self, member_id: int, room: str, now: str) -> bool:
        rows = await self._write(
            "INSERT INTO attention (member_id, room, last_read, joined_at) "
            "VALUES (?, ?, coalesce((SELECT max(id) FROM messages WHERE room = ?), 0), ?) "
            "ON CONFLICT (member_id, room) DO NOTHING RETURNING 1", (member_id, room, room, now))
        return bool(rows)

    async def leave_sidebar(self, member_id: int, room: str) -> bool:
        # Private rooms and DMs are left through their members panel, not here.
        rows = await self._write(
            "DELETE FROM attention WHERE member_id = ? AND room = ? AND NOT EXISTS "
            "(SELECT 1 FROM room_members WHERE room = ? AND member_id = ?) RETURNING 1",
            (member_id, room, room, member_id))
        return bool(rows)

    async def save_read_positions(self, positions: Sequence[tuple[int, str, int]]) -> None:
        # Only rooms still in the sidebar move: a position reported just before the member
        # left a private room must not bring its row back.
        for start in range(0, len(positions), _POSITIONS_PER_STATEMENT):
            chunk = positions[start:start + _POSITIONS_PER_STATEMENT]
            values = ",".join(["(?,?,?)"] * len(chunk))
            await self._write(
                f"WITH v (member_id, room, last_read) AS (VALUES {values}) "
                "UPDATE attention SET last_read = max(attention.last_read, v.last_read) FROM v "
                "WHERE attention.member_id = v.member_id AND attention.room = v.room "
                "AND v.last_read > attention.last_read",
                [value for row in chunk for value in row])

    async def read_position(self, member_id: int, room: str) -> int:
        rows = await self._read("SELECT last_read FROM attention WHERE member_id = ? AND room = ?",
                                (member_id, room))
        return int(rows[0][0]) if rows else 0

    async def notification_level(self, member_id: int, room: str) -> str:
        return (await self.notification_levels(room, [member_id])).get(member_id, "nothing")

    async def notification_levels(self, room: str, member_ids: Iterable[int]) -> dict[int, str]:
        wanted = sorted({int(m) for m in member_ids})
        if not wanted:
            return {}
        rows = await self._read(
            "SELECT w.value, a.level, coalesce(r.visibility, 'public'), "
            " CASE WHEN r.name IS NULL THEN substr(?, 1, 3) <> 'dm-' WHEN r.visibility = 'public' THEN 1 "
            " ELSE EXISTS (SELECT 1 FROM room_members rm WHERE rm.room = r.name AND rm.member_id = w.value) END "
            "FROM json_each(?) w LEFT JOIN rooms r ON r.name = ? "
            "LEFT JOIN attention a ON a.member_id = w.value AND a.room = ?",
            (room, "[" + ",".join(map(str, wanted)) + "]", room, room))
        # Nobody is told about a room they may not see: their level there is "nothing".
        return {int(r[0]): (r[1] or default_level(r[2])) if r[3] else "nothing" for r in rows}

    async def set_notification_level(self, member_id: int, room: str, level: str | None, now: str) -> None:
        if level is not None and level not in LEVELS:
            raise ValueError(f"no such level: {level}")
        await self._write(
            "INSERT INTO attention (member_id, room, last_read, level, joined_at) "
            "VALUES (?, ?, coalesce((SELECT max(id) FROM messages WHERE room = ?), 0), ?, ?) "
            "ON CONFLICT (member_id, room) DO UPDATE SET level = excluded.level",
            (member_id, room, room, level, now))

    async def chosen_levels(self) -> list[tuple[int, str, str]]:
        rows = await self._read("SELECT member_id, room, level FROM attention WHERE level IS NOT NULL")
        return [(int(r[0]), r[1], r[2]) for r in rows]

    async def record_mentions(self, wanted: Sequence[MentionWanted]) -> list[tuple[int, str, int]]:
        if not wanted:
            return []
        values = ",".join(["(?,?,?,?,?)"] * len(wanted))
        params: list[Any] = [v for w in wanted for v in w]
        # One statement for the whole batch: names are resolved to members (active ones),
        # @here arrives as member ids, and a member of no business in a private room (or
        # the sender) is dropped inside the INSERT, so what is returned is exactly who was
        # mentioned where.
        rows = await self._write(
            f"WITH wanted (message_id, room, name_key, member_id, sender_id) AS (VALUES {values}), "
            "found (member_id, room, message_id, sender_id) AS ("
            " SELECT mb.id, w.room, w.message_id, w.sender_id FROM wanted w "
            "  JOIN members mb ON mb.name_key = w.name_key WHERE w.name_key IS NOT NULL AND mb.status = 'active' "
            " UNION "
            " SELECT w.member_id, w.room, w.message_id, w.sender_id FROM wanted w WHERE w.member_id IS NOT NULL) "
            "INSERT INTO mentions (member_id, room, message_id) "
            "SELECT f.member_id, f.room, f.message_id FROM found f LEFT JOIN rooms r ON r.name = f.room "
            "WHERE f.member_id IS NOT f.sender_id "
            f" AND {_VISIBLE_TO.format(r='r', room='f.room', member='f.member_id')} "
            " AND EXISTS (SELECT 1 FROM messages WHERE id = f.message_id) "
            "ON CONFLICT DO NOTHING RETURNING member_id, room, message_id",
            params)
        return sorted((int(r[0]), r[1], int(r[2])) for r in rows)

    async def mentions_page(self, member_id: int, before: int | None,
                            limit: int) -> tuple[list[MentionHit], bool]:
        rows = await self._read(
            f"SELECT {MESSAGE_COLUMNS}, coalesce(rr.visibility, 'public'), "
            " (SELECT mb.name FROM room_members o JOIN members mb ON mb.id = o.member_id "
            "  WHERE rr.visibility = 'dm' AND o.room = x.room AND o.member_id <> x.member_id) "
            "FROM mentions x JOIN messages AS m ON m.id = x.message_id "
            "LEFT JOIN messages AS r ON r.id = m.reply_to AND r.room = m.room LEFT JOIN rooms rr ON rr.name = x.room "
            "WHERE x.member_id = ? AND x.message_id < ? "
            f" AND {_VISIBLE_TO.format(r='rr', room='x.room', member='x.member_id')} "
            "ORDER BY x.message_id DESC LIMIT ?",
            (member_id, before if before is not None else 2**62, limit + 1))
        hits = [MentionHit(message(r[:MESSAGE_WIDTH]), r[MESSAGE_WIDTH], r[MESSAGE_WIDTH + 1]) for r in rows[:limit]]
        return hits, len(rows) > limit

    async def watch_counts(self, rooms: Mapping[str, int], count_limit: int) -> dict[str, tuple[int, int]]:
        if not rooms:
            return {}
        values = ",".join(["(?,?)"] * len(rooms))
        params: list[Any] = [v for item in rooms.items() for v in item]
        rows = await self._read(
            f"WITH w (room, after) AS (VALUES {values}) "
            "SELECT w.room, "
            " (SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.room = w.room AND m.id > w.after LIMIT ?)), "
            " coalesce((SELECT max(m.id) FROM messages m WHERE m.room = w.room), 0) "
            "FROM w LEFT JOIN rooms r ON r.name = w.room "
            "WHERE coalesce(r.visibility, 'public') = 'public' AND substr(w.room, 1, 3) <> 'dm-'",
            [*params, count_limit])
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    async def newest_id(self) -> int:
        rows = await self._read("SELECT seq FROM sqlite_sequence WHERE name = 'messages'")
        return int(rows[0][0]) if rows else 0

    async def room_member_ids(self, room: str) -> set[int]:
        rows = await self._read("SELECT member_id FROM room_members WHERE room = ?", (room,))
        return {int(r[0]) for r in rows}
