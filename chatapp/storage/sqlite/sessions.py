"""Server-side sessions on SQLite: one row per live session, found by the hash of its id."""

from __future__ import annotations

from ..records import Member, SessionRecord
from .connection import SQLiteBase
from .members import _MEMBER_COLUMNS, _member

_SESSION_COLUMNS = "s.kind, s.subject, s.created_at, s.last_seen_at, s.expires_at"
_M_COLUMNS = ", ".join("m." + c for c in _MEMBER_COLUMNS.split(", "))


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

    async def live_session_member(self, id_hash: str, now: str) -> tuple[SessionRecord, Member | None] | None:
        # Two primary-key lookups in one read. A member session's subject is the member's id
        # in digits; comparing it with the INTEGER id converts it, so anything else (the
        # operator's "") matches no member.
        rows = await self._read(
            f"SELECT {_SESSION_COLUMNS}, {_M_COLUMNS} FROM sessions AS s LEFT JOIN members AS m "
            "ON s.kind = 'member' AND s.subject <> '' AND s.subject NOT GLOB '*[^0-9]*' AND m.id = s.subject "
            "WHERE s.id_hash = ? AND s.expires_at > ?",
            (id_hash, now))
        if not rows:
            return None
        row = rows[0]
        return SessionRecord(*row[:5]), (_member(row[5:]) if row[5] is not None else None)

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
