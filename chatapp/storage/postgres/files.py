"""Files on PostgreSQL: their bytes in the ``files`` table (``bytea``, TOASTed out of line),
beside the messages that carry them (as :mod:`..sqlite.files`).

A file is linked to its message by the messages' insert trigger and deleted by their delete
trigger (``migrations/postgres/0011_files.sql``); this mixin stores a file, reads it (its
room first, for the privacy check) and removes files no message ever claimed.
"""

from __future__ import annotations

from ..records import FileInfo
from .connection import PostgresBase


class FilesMixin(PostgresBase):
    async def store_file(self, room: str, member_id: int | None, name: str, mime: str, data: bytes,
                         thumb: bytes | None, thumb_mime: str | None, now: str) -> int:
        row = await self._fetchrow(
            "INSERT INTO files (room, member_id, name, mime, size, created_at, thumb_mime, thumb, data) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            room, member_id, name, mime, len(data), now, thumb_mime, thumb, data)
        assert row is not None
        return int(row[0])

    async def file_info(self, file_id: int) -> FileInfo | None:
        # Only the columns before the blobs: no TOAST chunk of the file is read.
        row = await self._fetchrow(
            "SELECT id, room, message_id, name, mime, size, thumb_mime FROM files "
            "WHERE id = $1 AND message_id IS NOT NULL", file_id)
        if row is None:
            return None
        return FileInfo(int(row[0]), row[1], int(row[2]), row[3], row[4], int(row[5]), row[6])

    async def file_data(self, file_id: int, thumb: bool = False) -> bytes | None:
        column = "thumb" if thumb else "data"
        row = await self._fetchrow(f"SELECT {column} FROM files WHERE id = $1 AND message_id IS NOT NULL", file_id)
        return bytes(row[0]) if row and row[0] is not None else None

    async def delete_unlinked_file(self, file_id: int) -> bool:
        rows = await self._fetch("DELETE FROM files WHERE id = $1 AND message_id IS NULL RETURNING id", file_id)
        return bool(rows)

    async def delete_unlinked_files(self, before: str) -> int:
        rows = await self._fetch(
            "DELETE FROM files WHERE message_id IS NULL AND created_at < $1 RETURNING id", before)
        return len(rows)
