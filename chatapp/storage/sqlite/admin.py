"""The operator's figures and the audit log on SQLite."""

from __future__ import annotations

from ...models import utc_now_iso
from ..base import AuditEntry, RoomStats
from .connection import Row, SQLiteBase
from .messages import NEWEST

# The distinct-names count reads only the (room, ts, user) index.
_STATS_COLUMNS = (
    "r.name, r.message_count, r.last_message_at, r.locked, r.retention_days, "
    "(SELECT COUNT(DISTINCT m.user) FROM messages m WHERE m.room = r.name AND m.ts >= ?)"
)


def _stats(row: Row) -> RoomStats:
    return RoomStats(row[0], int(row[1]), row[2], bool(row[3]),
                     None if row[4] is None else int(row[4]), int(row[5]))


class AdminMixin(SQLiteBase):
    async def room_stats(self, since: str) -> list[RoomStats]:
        """Every stored room with its figures; ``since`` bounds the distinct-names count."""
        return [_stats(r) for r in await self._read(f"SELECT {_STATS_COLUMNS} FROM rooms r", (since,))]

    async def room_stat(self, room: str, since: str) -> RoomStats | None:
        rows = await self._read(f"SELECT {_STATS_COLUMNS} FROM rooms r WHERE r.name = ?", (since, room))
        return _stats(rows[0]) if rows else None

    async def record_audit(self, action: str, client: str, *, room: str | None = None,
                           message_id: int | None = None, detail: str | None = None) -> None:
        await self._write(
            "INSERT INTO audit_log (at, action, room, message_id, client, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (utc_now_iso(), action, room, message_id, client, detail))

    async def audit_entries(self, before: int | None, limit: int) -> tuple[list[AuditEntry], bool]:
        """Newest first, ``limit`` at a time, paged by id."""
        rows = await self._read(
            "SELECT id, at, action, room, message_id, client, detail FROM audit_log "
            "WHERE id < ? ORDER BY id DESC LIMIT ?",
            (before if before is not None else NEWEST, limit + 1))
        entries = [AuditEntry(int(r[0]), r[1], r[2], r[3], None if r[4] is None else int(r[4]), r[5], r[6])
                   for r in rows[:limit]]
        return entries, len(rows) > limit
