"""Keeping history on PostgreSQL: import and retention (as :mod:`..sqlite.archive`).

There is no ``chatapp backup`` here: SQLite's online backup copies one file, and the tool
for a PostgreSQL database is ``pg_dump`` (a consistent snapshot while chatapp serves; see
docs/scaling.md). :meth:`ArchiveMixin.backup` says so in one line, which the command line
prints as it is. ``chatapp export`` and ``import`` work on both backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..records import BackupError, BackupReport, NewRow
from .connection import PostgresBase

NO_BACKUP = ("the database is PostgreSQL, which this command cannot copy: use pg_dump, e.g. "
             "pg_dump --format=custom --file=chat.dump \"$CHATAPP_DATABASE_URL\" (see docs/scaling.md)")


class ArchiveMixin(PostgresBase):
    async def import_rows(self, rows: Sequence[NewRow]) -> int:
        """Insert in one transaction, keeping each ``ts``; (room, client_id) already there are skipped."""
        if not rows:
            return 0
        rooms = sorted({r.room for r in rows})
        async with self._log_transaction(rooms) as conn:
            inserted = await conn.fetch(
                'INSERT INTO messages (room, "user", body, ts, client_id) '
                "SELECT room, u, body, ts, client_id FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
                "$5::text[]) WITH ORDINALITY AS t(room, u, body, ts, client_id, n) ORDER BY n "
                "ON CONFLICT DO NOTHING RETURNING id",
                [r.room for r in rows], [r.user for r in rows], [r.body for r in rows], [r.ts for r in rows],
                [r.client_id for r in rows])
            # The counter trigger set last_message_at to the last row inserted, which for old
            # history is in the past: put back the newest time the room really has.
            await conn.execute(
                "UPDATE rooms SET last_message_at = (SELECT max(ts) FROM messages WHERE messages.room = rooms.name) "
                "WHERE name = ANY($1::text[])", rooms)
        return len(inserted)

    async def retention_rooms(self) -> list[tuple[str, int]]:
        rows = await self._fetch("SELECT name, retention_days FROM rooms WHERE retention_days > 0")
        return [(r[0], int(r[1])) for r in rows]

    async def delete_older(self, room: str, cutoff: str, limit: int) -> int:
        # The (room, ts) index finds exactly the old rows, however they were inserted.
        rows = await self._fetch(
            "DELETE FROM messages WHERE id IN "
            "(SELECT id FROM messages WHERE room = $1 AND ts < $2 LIMIT $3) RETURNING id", room, cutoff, limit)
        if len(rows) < limit:  # the last chunk: the room's changes as old as that go too
            await self._fetch("DELETE FROM room_events WHERE room = $1 AND ts < $2", room, cutoff)
        return len(rows)

    async def backup(self, dest: Path, *, force: bool = False) -> BackupReport:
        raise BackupError(NO_BACKUP)
