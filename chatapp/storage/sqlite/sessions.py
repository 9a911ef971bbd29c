"""Server-side sessions on SQLite: one row per live session, found by the hash of its id."""

from __future__ import annotations

from ..base import SessionRecord
from .connection import SQLiteBase


class SessionsMixin(SQLiteBase):
    async def create_session(self, id_hash: str, kind: str, subject: str, now: str,
                             expires_at: str) -> None:
        await self._write(
            "INSERT INTO sessions (id_hash, kind, subject, created_at, last_seen_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (id_hash, kind, subject, now, now, expires_at))

    async def live_session(self, id_hash: str, now: str) -> SessionRecord | None:
        # A primary-key lookup on a reader: every admin request pays this one read.
        rows = await self._read(
            "SELECT kind, subject, created_at, last_seen_at, expires_at FROM sessions "
            "WHERE id_hash = ? AND expires_at > ?",
            (id_hash, now))
        return SessionRecord(*rows[0]) if rows else None

    async def touch_session(self, id_hash: str, now: str, expires_at: str) -> None:
        await self._write("UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id_hash = ?",
                          (now, expires_at, id_hash))

    async def delete_session(self, id_hash: str) -> bool:
        return bool(await self._write("DELETE FROM sessions WHERE id_hash = ? RETURNING 1", (id_hash,)))

    async def delete_sessions_of(self, kind: str, subject: str) -> int:
        return len(await self._write("DELETE FROM sessions WHERE kind = ? AND subject = ? RETURNING 1",
                                     (kind, subject)))

    async def delete_expired_sessions(self, now: str) -> int:
        return len(await self._write("DELETE FROM sessions WHERE expires_at <= ? RETURNING 1", (now,)))
