"""Search and export on SQLite: the slow lane's queries.

The index (``migrations/0003_search.sql``, filled after each commit since
``0017``: see :mod:`.indexer`) holds each message folded (accents off) and
the trigram tokenizer folds case, so a folded query is matched as one FTS5 string
literal: whatever people type (quotes, ``AND``, ``NEAR(``, ``*``) is text to find, never
query syntax. Trigram cannot match fewer than three characters, so one- and two-character
queries scan the folded text of the most recent messages with LIKE instead, newest first,
stopping at the limit. Both run in the slow lane, with its time budget.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator

from ...models import Message
from ..records import Hit, StorageError, TooSlow
from .connection import SQLiteBase
from .messages import FROM_MESSAGES, MESSAGE_COLUMNS, message

log = logging.getLogger(__name__)

# Trigram needs three characters; shorter queries scan this many of the newest ids.
SHORT_QUERY_WINDOW = 200_000
EXPORT_PAGE = 1000  # messages read per query: memory stays flat however long the history
EXPORT_BUDGET = 30.0  # seconds one export page may take (a page is ~1,000 index lookups)

_COLUMNS = "m.id, m.room, m.user, m.body, m.ts, m.html, m.bot_id IS NOT NULL"


class QueryRefused(StorageError):
    """The search engine refused the query text itself."""


def fts_literal(text: str) -> str:
    """``text`` as one FTS5 string: inside double quotes only ``"`` is special, doubled."""
    return '"' + text.replace('"', '""') + '"'


def like_pattern(text: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


class SearchMixin(SQLiteBase):
    async def search(self, folded: str, room: str | None, user: str | None, limit: int,
                     viewer: int | None = None, see_private: bool = False) -> list[Hit]:
        # In the query, not after it, so LIMIT still fills a page: a message is dropped when
        # its room is not public and the viewer is not in it (one primary-key probe each;
        # a NULL viewer, a guest, is in nothing). See chatapp.privacy.
        filters = (" AND NOT EXISTS (SELECT 1 FROM rooms AS r WHERE r.name = m.room"
                   " AND r.visibility <> 'public' AND NOT (? AND r.visibility = 'private')"
                   " AND NOT EXISTS (SELECT 1 FROM room_members AS rm"
                   " WHERE rm.room = m.room AND rm.member_id = ?))")
        params: list[object] = [int(see_private), viewer]
        if room is not None:
            filters += " AND m.room = ?"
            params.append(room)
        if user is not None:
            filters += " AND m.user = ?"
            params.append(user)
        # Messages are indexed after their commit (.indexer): those not indexed yet (a
        # fraction of a second's, normally) are read from the messages themselves, newest
        # first, and come before the index's matches. Nothing here waits for the write
        # connection, which a burst keeps busy.
        tail_sql = (f"SELECT {_COLUMNS} FROM messages AS m JOIN search_text AS s ON s.id = m.id "
                    f"WHERE m.id > (SELECT upto FROM search_indexed){filters} AND ")
        if len(folded) >= 3:
            sql = (f"SELECT {_COLUMNS} FROM messages_fts AS f JOIN messages AS m ON m.id = f.rowid "
                   f"WHERE messages_fts MATCH ?{filters} ORDER BY f.rowid DESC LIMIT ?")
            args: list[object] = [fts_literal(folded), *params, limit]
            # The trigram index ignores case: so does this (Python's lower(); SQLite's is ASCII-only).
            tail_sql += "instr(chatapp_lower(s.body_norm), ?) ORDER BY m.id DESC LIMIT ?"
            tail_args: list[object] = [*params, folded.lower(), limit]
        else:
            # CROSS JOIN keeps messages outside, so a room filter walks its (room, id) index
            # newest first and each candidate's folded text is one rowid lookup away.
            sql = (f"SELECT {_COLUMNS} FROM messages AS m CROSS JOIN messages_fts AS f "
                   "ON f.rowid = m.id "
                   "WHERE m.id > (SELECT coalesce(max(id), 0) FROM messages) - ?"
                   f"{filters} AND f.body_norm LIKE ? ESCAPE '\\' ORDER BY m.id DESC LIMIT ?")
            args = [SHORT_QUERY_WINDOW, *params, like_pattern(folded), limit]
            tail_sql += "s.body_norm LIKE ? ESCAPE '\\' ORDER BY m.id DESC LIMIT ?"
            tail_args = [*params, like_pattern(folded), limit]
        async with self._slow_lane() as lane:
            await self._indexer.refresh()  # rows other processes stored get indexed too
            try:
                # The tail first: a step that lands between the two reads moves rows from
                # the tail into the index, where the second read finds them again (dropped
                # below), never past both.
                tail = await self._lane_read(lane, tail_sql, tail_args)
                rows = tail + await self._lane_read(lane, sql, args) if len(tail) < limit else tail
            except TooSlow:
                raise
            except StorageError as exc:
                # The query is one quoted string, so FTS5 should never reject it; if some
                # input still trips it, that is the query's fault, not the server's.
                if "fts5" not in str(exc):
                    raise
                log.warning("search query rejected by FTS5: %s", exc)
                raise QueryRefused("That search could not be run; try other words.") from None
        seen: set[int] = set()
        unique = []
        for r in rows:
            if r[0] not in seen:
                seen.add(r[0])
                unique.append(r)
        rows = unique[:limit]
        return [Hit(int(r[0]), r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]

    async def export(self, room: str) -> AsyncGenerator[list[Message], None]:
        async with self._slow_lane() as lane:
            after = 0
            while True:
                rows = await self._lane_read(
                    lane,
                    f"SELECT {MESSAGE_COLUMNS} FROM {FROM_MESSAGES} "
                    "WHERE m.room = ? AND m.id > ? ORDER BY m.id LIMIT ?",
                    (room, after, EXPORT_PAGE), budget=EXPORT_BUDGET)
                if rows:
                    yield [message(r) for r in rows]
                    after = int(rows[-1][0])
                if len(rows) < EXPORT_PAGE:
                    return
