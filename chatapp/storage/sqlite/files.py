"""Files on SQLite: their bytes in the ``files`` table (migrations/0011), beside the messages
that carry them, so the online backup copies them too.

A file is linked to its message by the messages' insert trigger and deleted by their delete
trigger; this mixin stores a file, reads it (its room first, for the privacy check) and
removes files no message ever claimed.
"""

from __future__ import annotations

from ..records import FileInfo
from .connection import SQLiteBase


class FilesMixin(SQLiteBase):
    async def store_file(self, room: str, member_id: int | None, name: str, mime: str, data: bytes,
                         thumb: bytes | None, thumb_mime: str | None, now: str) -> int:
        rows = await self._write(
            "INSERT INTO files (room, member_id, name, mime, size, created_at, thumb_mime, thumb, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (room, member_id, name, mime, len(data), now, thumb_mime, thumb, data))
        return int(rows[0][0])

    async def file_info(self, file_id: int) -> FileInfo | None:
        # Only the columns before the blobs: no overflow page of the file is read.
        rows = await self._read(
            "SELECT id, room, message_id, name, mime, size, thumb_mime FROM files "
            "WHERE id = ? AND message_id IS NOT NULL", (file_id,))
        if not rows:
            return None
        r = rows[0]
        return FileInfo(int(r[0]), r[1], int(r[2]), r[3], r[4], int(r[5]), r[6])

    async def file_data(self, file_id: int, thumb: bool = False) -> bytes | None:
        column = "thumb" if thumb else "data"
        rows = await self._read(
            f"SELECT {column} FROM files WHERE id = ? AND message_id IS NOT NULL", (file_id,))
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else None

    async def delete_unlinked_file(self, file_id: int) -> bool:
        rows = await self._write(
            "DELETE FROM files WHERE id = ? AND message_id IS NULL RETURNING id", (file_id,))
        return bool(rows)

    async def delete_unlinked_files(self, before: str) -> int:
        rows = await self._write(
            "DELETE FROM files WHERE message_id IS NULL AND created_at < ? RETURNING id", (before,))
        return len(rows)
