"""Server-side sessions on PostgreSQL: one row per live session, found by the hash of its id."""

from __future__ import annotations

from ..records import Member, SessionRecord
from .connection import PostgresBase
from .members import MEMBER_COLUMNS, member

_SESSION_COLUMNS = "s.kind, s.subject, s.created_at, s.last_seen_at, s.expires_at"
_M_COLUMNS = ", ".join("m." + c for c in MEMBER_COLUMNS.split(", "))


class SessionsMixin(PostgresBase):
    async def create_session(self, id_hash: str, kind: str, subject: str, now: str,
                             expires_at: str) -> None:
        await self._fetch(
            "INSERT INTO sessions (id_hash, kind, subject, created_at, last_seen_at, expires_at) "
            "VALUES ($1, $2, $3, $4, $4, $5)", id_hash, kind, subject, now, expires_at)

    async def live_session(self, id_hash: str, now: str) -> SessionRecord | None:
        row = await self._fetchrow(
            "SELECT kind, subject, created_at, last_seen_at, expires_at FROM sessions "
            "WHERE id_hash = $1 AND expires_at > $2", id_hash, now)
        return SessionRecord(*row) if row else None

    async def live_session_member(self, id_hash: str, now: str) -> tuple[SessionRecord, Member | None] | None:
        # Two primary-key lookups in one round trip. A member session's subject is the
        # member's id in digits; CASE keeps the cast from ever seeing anything else (the
        # operator's ""), and an id that is not a member's joins nothing.
        row = await self._fetchrow(
            f"SELECT {_SESSION_COLUMNS}, {_M_COLUMNS} FROM sessions AS s LEFT JOIN members AS m "
            "ON m.id = CASE WHEN s.kind = 'member' AND s.subject ~ '^[0-9]{1,18}$' THEN s.subject::bigint END "
            "WHERE s.id_hash = $1 AND s.expires_at > $2", id_hash, now)
        if row is None:
            return None
        return SessionRecord(*row[:5]), (member(row[5:]) if row[5] is not None else None)

    async def touch_session(self, id_hash: str, now: str, expires_at: str) -> None:
        await self._fetch("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id_hash = $3",
                          now, expires_at, id_hash)

    async def delete_session(self, id_hash: str) -> bool:
        return bool(await self._fetch("DELETE FROM sessions WHERE id_hash = $1 RETURNING 1", id_hash))

    async def delete_sessions_of(self, kind: str, subject: str) -> int:
        return len(await self._fetch("DELETE FROM sessions WHERE kind = $1 AND subject = $2 RETURNING 1",
                                     kind, subject))

    async def delete_expired_sessions(self, now: str) -> int:
        return len(await self._fetch("DELETE FROM sessions WHERE expires_at <= $1 RETURNING 1", now))
