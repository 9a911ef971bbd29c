"""The audit log on SQLite (the operator's room figures are in :mod:`.rooms`)."""

from __future__ import annotations

from ...models import utc_now_iso
from ..records import AuditEntry
from .connection import SQLiteBase
from .messages import NEWEST


class AdminMixin(SQLiteBase):
    async def record_audit(self, action: str, client: str, *, room: str | None = None,
                           message_id: int | None = None, detail: str | None = None,
                           actor: str | None = None) -> None:
        await self._write(
            "INSERT INTO audit_log (at, action, room, message_id, client, detail, actor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (utc_now_iso(), action, room, message_id, client, detail, actor))

    async def audit_entries(self, before: int | None, limit: int) -> tuple[list[AuditEntry], bool]:
        """Newest first, ``limit`` at a time, paged by id."""
        rows = await self._read(
            "SELECT id, at, action, room, message_id, client, detail, actor FROM audit_log "
            "WHERE id < ? ORDER BY id DESC LIMIT ?",
            (before if before is not None else NEWEST, limit + 1))
        entries = [AuditEntry(int(r[0]), r[1], r[2], r[3], None if r[4] is None else int(r[4]), r[5], r[6], r[7])
                   for r in rows[:limit]]
        return entries, len(rows) > limit
