"""The room list on PostgreSQL: pages of rooms in activity order, finding rooms by name,
the totals, and the quiet rooms an operator deletes in bulk (as :mod:`..sqlite.rooms`).

Every page is one index seek: activity order walks ``rooms_activity`` (or its public-only
partial twin) with the keyset ``(active_at, name) < ($1, $2)``; a short query walks the name
index; a longer one the trigram index over names (``rooms_name_trgm``), in the order rooms
were made (``rooms.id``, SQLite's rowid). Names are ``COLLATE "C"``, so they sort by byte as
SQLite's do, whatever the database's locale. Totals are summed over the shards' rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from ...models import RoomSummary
from ...protocol import as_id, normalise_room
from ..records import BadCursor, RoomStats
from .connection import PostgresBase, Record

T = TypeVar("T")

TRIGRAM = 3  # queries this long or longer match anywhere in a name; shorter ones match prefixes
_SUMMARY_COLUMNS = "r.name, r.message_count, r.last_message_at, r.locked"
# The distinct-names count reads only the (room, ts, user) index, for the page's rooms only.
_STATS_COLUMNS = (
    "r.name, r.message_count, r.last_message_at, r.locked, r.retention_days, "
    '(SELECT count(DISTINCT m."user") FROM messages m WHERE m.room = r.name AND m.ts >= $1)'
)
_SEP = "~"  # between the time and the name in an activity cursor: in neither of them


def _summary(r: Record) -> RoomSummary:
    return RoomSummary(r[0], int(r[1]), r[2], bool(r[3]))


def _stats(r: Record) -> RoomStats:
    return RoomStats(r[0], int(r[1]), r[2], bool(r[3]), None if r[4] is None else int(r[4]), int(r[5]))


def _activity_cursor(after: str) -> tuple[str, str]:
    at, sep, name = after.rpartition(_SEP)
    if not sep or len(at) > 40 or normalise_room(name) != name:
        raise BadCursor(after)
    return at, name


def like_escape(text: str) -> str:
    """``text`` matched literally by LIKE ... ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class RoomsMixin(PostgresBase):
    async def _page(self, columns: str, lead: tuple[object, ...], make: Callable[[Record], T],
                    query: str, after: str | None, limit: int,
                    public_only: bool = False, no_dms: bool = False) -> tuple[list[T], str | None]:
        """One page of rooms and the cursor of the next (None on the last page); see
        :meth:`chatapp.storage.sqlite.rooms.RoomsMixin._page` for the three orders."""
        tail = "r.active_at, r.id"  # what the next page's cursor is made of
        params: list[object] = list(lead)

        def arg(value: object) -> str:
            params.append(value)
            return f"${len(params)}"

        # A literal, so the activity order seeks the partial index rooms_public_activity.
        public = " AND r.visibility = 'public'" if public_only else " AND r.visibility <> 'dm'" if no_dms else ""
        if not query:
            sql = f"SELECT {columns}, {tail} FROM rooms r WHERE true{public} "
            if after is not None:
                at, name = _activity_cursor(after)
                sql += f"AND (r.active_at, r.name) < ({arg(at)}, {arg(name)}) "
            sql += "ORDER BY r.active_at DESC, r.name DESC"
        elif len(query) < TRIGRAM:
            if after is not None and normalise_room(after) != after:
                raise BadCursor(after)
            start = after if after is not None else ""
            # "~" sorts after every character a room name may hold.
            sql = (f"SELECT {columns}, {tail} FROM rooms r WHERE r.name >= {arg(query)} "
                   f"AND r.name < {arg(query + '~')} AND r.name > {arg(start)}{public} ORDER BY r.name")
        else:
            rowid = 0 if after is None else as_id(after)
            if rowid is None:
                raise BadCursor(after)
            sql = (f"SELECT {columns}, {tail} FROM rooms r WHERE r.name LIKE {arg('%' + like_escape(query) + '%')} "
                   f"ESCAPE '\\' AND r.id > {arg(rowid)}{public} ORDER BY r.id")
        sql += f" LIMIT {arg(limit + 1)}"
        rows = await self._fetch(sql, *params)
        more = len(rows) > limit
        rows = rows[:limit]
        cursor: str | None = None
        if more and rows:
            last = rows[-1]
            if not query:
                cursor = f"{last[-2]}{_SEP}{last[0]}"
            elif len(query) < TRIGRAM:
                cursor = str(last[0])
            else:
                cursor = str(last[-1])
        return [make(r) for r in rows], cursor

    async def room_page(self, query: str, after: str | None, limit: int) -> tuple[list[RoomSummary], str | None]:
        # The public list: a member's private rooms and DMs are listed apart (member_rooms).
        return await self._page(_SUMMARY_COLUMNS, (), _summary, query, after, limit, public_only=True)

    async def room_stats_page(self, since: str, query: str, after: str | None,
                              limit: int) -> tuple[list[RoomStats], str | None]:
        # The admin's table: every room but DMs, which are their two members' alone.
        return await self._page(_STATS_COLUMNS, (since,), _stats, query, after, limit, no_dms=True)

    async def room_stat(self, room: str, since: str) -> RoomStats | None:
        row = await self._fetchrow(f"SELECT {_STATS_COLUMNS} FROM rooms r WHERE r.name = $2", since, room)
        return _stats(row) if row else None

    async def rooms_named(self, names: Iterable[str]) -> list[RoomSummary]:
        wanted = list(names)
        if not wanted:
            return []
        rows = await self._fetch(f"SELECT {_SUMMARY_COLUMNS} FROM rooms r WHERE r.name = ANY($1::text[])", wanted)
        return [_summary(r) for r in rows]

    async def existing_rooms(self, names: Iterable[str]) -> set[str]:
        wanted = list(names)
        if not wanted:
            return set()
        rows = await self._fetch("SELECT name FROM rooms WHERE name = ANY($1::text[])", wanted)
        return {r[0] for r in rows}

    async def totals(self) -> tuple[int, int]:
        row = await self._fetchrow("SELECT coalesce(sum(rooms), 0), coalesce(sum(messages), 0) FROM totals")
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def quiet_rooms(self, since: str, max_messages: int, limit: int) -> list[str]:
        rows = await self._fetch(
            "SELECT name FROM rooms WHERE active_at >= $1 AND message_count <= $2 AND visibility <> 'dm' "
            "ORDER BY active_at DESC, name DESC LIMIT $3", since, max_messages, limit)
        return [r[0] for r in rows]
