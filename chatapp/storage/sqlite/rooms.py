"""The room list on SQLite: pages of rooms in activity order, finding rooms by name,
the totals, and picking the quiet rooms an operator deletes in bulk.

Every query here reads one page through an index (``migrations/0006_room_list.sql``):
activity order seeks ``rooms_activity`` with a keyset ``(active_at, name) < (?, ?)``, a
short query walks the name index, a longer one the trigram index over names. Nothing
counts or sorts all rooms, so a page costs the same with ten rooms or a million.
Cursors are opaque text to the caller; one that does not parse is :class:`BadCursor`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from ...models import RoomSummary
from ...protocol import as_id, normalise_room
from ..records import BadCursor, RoomStats
from .connection import Row, SQLiteBase

T = TypeVar("T")

TRIGRAM = 3  # the trigram index finds substrings this long or longer; shorter ones match prefixes
_SUMMARY_COLUMNS = "r.name, r.message_count, r.last_message_at, r.locked"
# The distinct-names count reads only the (room, ts, user) index, for the page's rooms only.
_STATS_COLUMNS = (
    "r.name, r.message_count, r.last_message_at, r.locked, r.retention_days, "
    "(SELECT COUNT(DISTINCT m.user) FROM messages m WHERE m.room = r.name AND m.ts >= ?)"
)
_SEP = "~"  # between the time and the name in an activity cursor: in neither of them


def _summary(r: Row) -> RoomSummary:
    return RoomSummary(r[0], int(r[1]), r[2], bool(r[3]))


def _stats(r: Row) -> RoomStats:
    return RoomStats(r[0], int(r[1]), r[2], bool(r[3]), None if r[4] is None else int(r[4]), int(r[5]))


def _activity_cursor(after: str) -> tuple[str, str]:
    at, sep, name = after.rpartition(_SEP)
    if not sep or len(at) > 40 or normalise_room(name) != name:
        raise BadCursor(after)
    return at, name


class RoomsMixin(SQLiteBase):
    async def _page(self, columns: str, lead: tuple[object, ...], make: Callable[[Row], T],
                    query: str, after: str | None, limit: int,
                    public_only: bool = False, no_dms: bool = False) -> tuple[list[T], str | None]:
        """One page of rooms and the cursor of the next (None on the last page).

        ``query`` empty: every room, latest activity first. Shorter than :data:`TRIGRAM`:
        names starting with it, by name. Longer: names containing it, oldest room first.
        ``query`` must already be a valid room name fragment (lower case).
        """
        tail = "r.active_at, r.rowid"  # what the next page's cursor is made of
        params: list[object] = list(lead)
        # Written out as a literal so the activity order seeks the partial index
        # rooms_public_activity (migrations/0008): private rooms cost the list nothing.
        public = " AND r.visibility = 'public'" if public_only else " AND r.visibility <> 'dm'" if no_dms else ""
        if not query:
            sql = f"SELECT {columns}, {tail} FROM rooms r WHERE 1{public} "
            if after is not None:
                sql += "AND (r.active_at, r.name) < (?, ?) "
                params += _activity_cursor(after)
            sql += "ORDER BY r.active_at DESC, r.name DESC LIMIT ?"
        elif len(query) < TRIGRAM:
            start = after if after is not None else ""
            if after is not None and normalise_room(after) != after:
                raise BadCursor(after)
            # "~" sorts after every character a room name may hold.
            sql = (f"SELECT {columns}, {tail} FROM rooms r WHERE r.name >= ? AND r.name < ? AND r.name > ?{public} "
                   "ORDER BY r.name LIMIT ?")
            params += [query, query + "~", start]
        else:
            rowid = 0 if after is None else as_id(after)
            if rowid is None:
                raise BadCursor(after)
            sql = (f"SELECT {columns}, {tail} FROM rooms_fts f JOIN rooms r ON r.rowid = f.rowid "
                   f"WHERE rooms_fts MATCH ? AND f.rowid > ?{public} ORDER BY f.rowid LIMIT ?")
            params += [f'"{query}"', rowid]  # a phrase: names hold no quote
        rows = await self._read(sql, [*params, limit + 1])
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
        rows = await self._read(f"SELECT {_STATS_COLUMNS} FROM rooms r WHERE r.name = ?", (since, room))
        return _stats(rows[0]) if rows else None

    async def rooms_named(self, names: Iterable[str]) -> list[RoomSummary]:
        wanted = list(names)
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        rows = await self._read(f"SELECT {_SUMMARY_COLUMNS} FROM rooms r WHERE r.name IN ({marks})", wanted)
        return [_summary(r) for r in rows]

    async def existing_rooms(self, names: Iterable[str]) -> set[str]:
        wanted = list(names)
        if not wanted:
            return set()
        # On the write connection: the chat writer asks right after its own last insert.
        marks = ",".join("?" * len(wanted))
        rows = await self._write(f"SELECT name FROM rooms WHERE name IN ({marks})", wanted)
        return {r[0] for r in rows}

    async def totals(self) -> tuple[int, int]:
        rows = await self._read("SELECT rooms, messages FROM totals WHERE id = 1")
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    async def quiet_rooms(self, since: str, max_messages: int, limit: int) -> list[str]:
        # Walks the activity index from ``since`` on: the work is bounded by the rooms
        # active since then, and ``limit`` bounds what comes back.
        rows = await self._read(
            "SELECT name FROM rooms WHERE active_at >= ? AND message_count <= ? AND visibility <> 'dm' "
            "ORDER BY active_at DESC, name DESC LIMIT ?", (since, max_messages, limit))
        return [r[0] for r in rows]
