"""Search and export on PostgreSQL: the slow lane's queries (as :mod:`..sqlite.search`).

Messages are matched through a pg_trgm GIN index over ``chatapp_search_text(body)``: the
body with accents folded exactly as :mod:`chatapp.textnorm` folds them, then lower-cased
(:mod:`.fold`). The query goes through the same function, then into a LIKE pattern with
its ``%``, ``_`` and ``\\`` escaped, so whatever people type is text to find, never syntax,
and any substring matches, in any script. Trigrams need three characters, so one- and
two-character queries scan the newest messages instead, newest first, stopping at the
limit (the same window as SQLite's). Hidden rooms are filtered inside the query, so LIMIT
still fills a page. Both run in the slow lane, with its time budget.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from ...models import Message
from ..records import Hit
from .connection import PostgresBase
from .messages import FROM_MESSAGES, MESSAGE_COLUMNS, message

# Trigrams need three characters; shorter queries scan this many of the newest ids.
SHORT_QUERY_WINDOW = 200_000
EXPORT_PAGE = 1000  # messages read per query: memory stays flat however long the history
EXPORT_BUDGET = 30.0  # seconds one export page may take

_COLUMNS = 'm.id, m.room, m."user", m.body, m.ts, m.html, m.bot_id IS NOT NULL'
# The query folded as the index folds text, as a LIKE pattern matching it anywhere.
_PATTERN = ("'%' || replace(replace(replace(chatapp_search_text($1), '\\', '\\\\'), '%', '\\%'), '_', '\\_') "
            "|| '%'")


class SearchMixin(PostgresBase):
    async def search(self, folded: str, room: str | None, user: str | None, limit: int,
                     viewer: int | None = None, see_private: bool = False) -> list[Hit]:
        # A message is dropped when its room is not public and the viewer is not in it (one
        # primary-key probe each; a NULL viewer, a guest, is in nothing). See chatapp.privacy.
        filters = (" AND NOT EXISTS (SELECT 1 FROM rooms AS r WHERE r.name = m.room"
                   " AND r.visibility <> 'public' AND NOT ($2 AND r.visibility = 'private')"
                   " AND NOT EXISTS (SELECT 1 FROM room_members AS rm"
                   " WHERE rm.room = m.room AND rm.member_id = $3))")
        params: list[object] = [folded, see_private, viewer, limit]
        if room is not None:
            params.append(room)
            filters += f" AND m.room = ${len(params)}"
        if user is not None:
            params.append(user)
            filters += f' AND m."user" = ${len(params)}'
        match = f"chatapp_search_text(m.body) LIKE {_PATTERN} ESCAPE '\\'"
        if len(folded) >= 3:
            sql = f"SELECT {_COLUMNS} FROM messages AS m WHERE {match}{filters} ORDER BY m.id DESC LIMIT $4"
        else:
            params.append(SHORT_QUERY_WINDOW)
            sql = (f"SELECT {_COLUMNS} FROM messages AS m "
                   f"WHERE m.id > (SELECT coalesce(max(id), 0) FROM messages) - ${len(params)} "
                   f"AND {match}{filters} ORDER BY m.id DESC LIMIT $4")
        async with self._slow_lane() as lane:
            rows = await self._lane_fetch(lane, sql, *params)
        return [Hit(int(r[0]), r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]

    async def export(self, room: str) -> AsyncGenerator[list[Message], None]:
        async with self._slow_lane() as lane:
            after = 0
            while True:
                rows = await self._lane_fetch(
                    lane,
                    f"SELECT {MESSAGE_COLUMNS} FROM {FROM_MESSAGES} WHERE m.room = $1 AND m.id > $2 "
                    "ORDER BY m.id LIMIT $3",
                    room, after, EXPORT_PAGE, budget=EXPORT_BUDGET)
                if rows:
                    yield [message(r) for r in rows]
                    after = int(rows[-1][0])
                if len(rows) < EXPORT_PAGE:
                    return
