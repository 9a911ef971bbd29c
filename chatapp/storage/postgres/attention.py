"""Attention on PostgreSQL: sidebars with unread and mention counts, read positions,
notification levels and mentions (as :mod:`..sqlite.attention`; the schema:
``migrations/postgres/0013_attention.sql``).

Every count is bounded by a ``LIMIT`` inside its subquery, and private rooms and DMs are
checked against ``room_members`` inside each query, as on SQLite. Lists of values travel as
arrays (``unnest``) instead of SQLite's ``VALUES`` lists and ``json_each``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ..records import MentionHit, MentionWanted, SidebarRoom
from .connection import PostgresBase
from .messages import FROM_MESSAGES, MESSAGE_COLUMNS, MESSAGE_WIDTH, message

LEVELS = ("all", "mentions", "nothing")

# A non-public room is seen only by its members (a room with no row yet is a public room
# nobody has posted in, unless its name is a DM's: those exist only as rows).
_VISIBLE_TO = """CASE WHEN {r}.name IS NULL THEN substr({room}, 1, 3) <> 'dm-'
    WHEN {r}.visibility = 'public' THEN true
    ELSE EXISTS (SELECT 1 FROM room_members rm WHERE rm.room = {room} AND rm.member_id = {member}) END"""


def default_level(visibility: str) -> str:
    """A DM tells its two people about every message; any other room only about mentions."""
    return "all" if visibility == "dm" else "mentions"


class AttentionMixin(PostgresBase):
    async def sidebar(self, member_id: int, limit: int, count_limit: int) -> list[SidebarRoom]:
        rows = await self._fetch(
            "SELECT s.room, s.visibility, "
            " (SELECT mb.name FROM room_members o JOIN members mb ON mb.id = o.member_id "
            "  WHERE s.visibility = 'dm' AND o.room = s.room AND o.member_id <> s.member_id), "
            " s.last_read, s.level, "
            " (SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.room = s.room AND m.id > s.last_read "
            "   LIMIT $1) AS u), "
            " (SELECT count(*) FROM (SELECT 1 FROM mentions x WHERE x.member_id = s.member_id AND x.room = s.room "
            "   AND x.message_id > s.last_read LIMIT $1) AS n), "
            " coalesce((SELECT max(m.id) FROM messages m WHERE m.room = s.room), 0), s.last_message_at "
            "FROM (SELECT a.member_id, a.room, coalesce(r.visibility, 'public') AS visibility, a.last_read, a.level, "
            "      r.last_message_at, coalesce(r.active_at, '') AS active "
            "      FROM attention a LEFT JOIN rooms r ON r.name = a.room "
            f"     WHERE a.member_id = $2 AND {_VISIBLE_TO.format(r='r', room='a.room', member='a.member_id')} "
            "      ORDER BY active DESC, a.room LIMIT $3) AS s "
            "ORDER BY s.active DESC, s.room",
            count_limit, member_id, limit)
        return [SidebarRoom(r[0], r[1], r[2], int(r[3]), r[4], int(r[5]), int(r[6]), int(r[7]), r[8])
                for r in rows]

    async def join_sidebar(self, member_id: int, room: str, now: str) -> bool:
        rows = await self._fetch(
            "INSERT INTO attention (member_id, room, last_read, joined_at) "
            "VALUES ($1, $2, coalesce((SELECT max(id) FROM messages WHERE room = $2), 0), $3) "
            "ON CONFLICT (member_id, room) DO NOTHING RETURNING 1", member_id, room, now)
        return bool(rows)

    async def leave_sidebar(self, member_id: int, room: str) -> bool:
        # Private rooms and DMs are left through their members panel, not here.
        rows = await self._fetch(
            "DELETE FROM attention WHERE member_id = $1 AND room = $2 AND NOT EXISTS "
            "(SELECT 1 FROM room_members WHERE room = $2 AND member_id = $1) RETURNING 1", member_id, room)
        return bool(rows)

    async def save_read_positions(self, positions: Sequence[tuple[int, str, int]]) -> None:
        # Only rooms still in the sidebar move: a position reported just before the member
        # left a private room must not bring its row back.
        if not positions:
            return
        await self._fetch(
            "UPDATE attention SET last_read = greatest(attention.last_read, v.last_read) "
            "FROM (SELECT member_id, room, max(last_read) AS last_read "
            "      FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS t(member_id, room, last_read) "
            "      GROUP BY member_id, room) AS v "
            "WHERE attention.member_id = v.member_id AND attention.room = v.room AND v.last_read > attention.last_read",
            [p[0] for p in positions], [p[1] for p in positions], [p[2] for p in positions])

    async def read_position(self, member_id: int, room: str) -> int:
        row = await self._fetchrow("SELECT last_read FROM attention WHERE member_id = $1 AND room = $2",
                                   member_id, room)
        return int(row[0]) if row else 0

    async def notification_level(self, member_id: int, room: str) -> str:
        return (await self.notification_levels(room, [member_id])).get(member_id, "nothing")

    async def notification_levels(self, room: str, member_ids: Iterable[int]) -> dict[int, str]:
        wanted = sorted({int(m) for m in member_ids})
        if not wanted:
            return {}
        rows = await self._fetch(
            "SELECT w.value, a.level, coalesce(r.visibility, 'public'), "
            " CASE WHEN r.name IS NULL THEN substr($1, 1, 3) <> 'dm-' WHEN r.visibility = 'public' THEN true "
            " ELSE EXISTS (SELECT 1 FROM room_members rm WHERE rm.room = r.name AND rm.member_id = w.value) END "
            "FROM unnest($2::bigint[]) AS w(value) LEFT JOIN rooms r ON r.name = $1 "
            "LEFT JOIN attention a ON a.member_id = w.value AND a.room = $1",
            room, wanted)
        # Nobody is told about a room they may not see: their level there is "nothing".
        return {int(r[0]): (r[1] or default_level(r[2])) if r[3] else "nothing" for r in rows}

    async def set_notification_level(self, member_id: int, room: str, level: str | None, now: str) -> None:
        if level is not None and level not in LEVELS:
            raise ValueError(f"no such level: {level}")
        await self._fetch(
            "INSERT INTO attention (member_id, room, last_read, level, joined_at) "
            "VALUES ($1, $2, coalesce((SELECT max(id) FROM messages WHERE room = $2), 0), $3, $4) "
            "ON CONFLICT (member_id, room) DO UPDATE SET level = excluded.level", member_id, room, level, now)

    async def chosen_levels(self) -> list[tuple[int, str, str]]:
        rows = await self._fetch("SELECT member_id, room, level FROM attention WHERE level IS NOT NULL")
        return [(int(r[0]), r[1], r[2]) for r in rows]

    async def record_mentions(self, wanted: Sequence[MentionWanted]) -> list[tuple[int, str, int]]:
        if not wanted:
            return []
        # One statement for the whole batch, as on SQLite: names resolved to active members,
        # @here as member ids, the sender and anyone of no business in a private room dropped.
        rows = await self._fetch(
            "WITH wanted AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) "
            "  AS t(message_id, room, name_key, member_id, sender_id)), "
            "found AS ("
            " SELECT mb.id AS member_id, w.room, w.message_id, w.sender_id FROM wanted w "
            "  JOIN members mb ON mb.name_key = w.name_key WHERE w.name_key IS NOT NULL AND mb.status = 'active' "
            " UNION "
            " SELECT w.member_id, w.room, w.message_id, w.sender_id FROM wanted w WHERE w.member_id IS NOT NULL) "
            "INSERT INTO mentions (member_id, room, message_id) "
            "SELECT DISTINCT f.member_id, f.room, f.message_id FROM found f LEFT JOIN rooms r ON r.name = f.room "
            "WHERE f.member_id IS DISTINCT FROM f.sender_id "
            f" AND {_VISIBLE_TO.format(r='r', room='f.room', member='f.member_id')} "
            " AND EXISTS (SELECT 1 FROM messages WHERE id = f.message_id) "
            "ON CONFLICT DO NOTHING RETURNING member_id, room, message_id",
            [w.message_id for w in wanted], [w.room for w in wanted], [w.name_key for w in wanted],
            [w.member_id for w in wanted], [w.sender_id for w in wanted])
        return sorted((int(r[0]), r[1], int(r[2])) for r in rows)

    async def mentions_page(self, member_id: int, before: int | None,
                            limit: int) -> tuple[list[MentionHit], bool]:
        rows = await self._fetch(
            f"SELECT {MESSAGE_COLUMNS}, coalesce(rr.visibility, 'public'), "
            " (SELECT mb.name FROM room_members o JOIN members mb ON mb.id = o.member_id "
            "  WHERE rr.visibility = 'dm' AND o.room = x.room AND o.member_id <> x.member_id) "
            f"FROM mentions x JOIN {FROM_MESSAGES} ON m.id = x.message_id LEFT JOIN rooms rr ON rr.name = x.room "
            "WHERE x.member_id = $1 AND x.message_id < $2 "
            f" AND {_VISIBLE_TO.format(r='rr', room='x.room', member='x.member_id')} "
            "ORDER BY x.message_id DESC LIMIT $3",
            member_id, before if before is not None else 2**62, limit + 1)
        hits = [MentionHit(message(r[:MESSAGE_WIDTH]), r[MESSAGE_WIDTH], r[MESSAGE_WIDTH + 1]) for r in rows[:limit]]
        return hits, len(rows) > limit

    async def watch_counts(self, rooms: Mapping[str, int], count_limit: int) -> dict[str, tuple[int, int]]:
        if not rooms:
            return {}
        rows = await self._fetch(
            "SELECT w.room, "
            " (SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.room = w.room AND m.id > w.after "
            "   LIMIT $3) AS u), "
            " coalesce((SELECT max(m.id) FROM messages m WHERE m.room = w.room), 0) "
            "FROM unnest($1::text[], $2::bigint[]) AS w(room, after) LEFT JOIN rooms r ON r.name = w.room "
            "WHERE coalesce(r.visibility, 'public') = 'public' AND substr(w.room, 1, 3) <> 'dm-'",
            list(rooms), list(rooms.values()), count_limit)
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    async def newest_id(self) -> int:
        row = await self._fetchrow("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM log_ids")
        return int(row[0]) if row else 0

    async def room_member_ids(self, room: str) -> set[int]:
        rows = await self._fetch("SELECT member_id FROM room_members WHERE room = $1", room)
        return {int(r[0]) for r in rows}
