"""Storage: the only place that knows SQL, holds connections or imports a database driver.

Everything else asks a :class:`Storage` (see :mod:`chatapp.storage.base`) opened by
:func:`open_storage`, and catches the errors defined there.
"""

from __future__ import annotations

from .base import (
    AuditEntry,
    BackupError,
    BackupReport,
    BadCursor,
    Busy,
    Hit,
    JoinLink,
    Member,
    MemberRoom,
    MigrationError,
    NewRow,
    RoomStats,
    RowRejected,
    SessionRecord,
    Storage,
    StorageError,
    TooSlow,
    Unavailable,
    utc_instant,
)
from .sqlite import SQLiteStorage
from .sqlite.search import QueryRefused


async def open_storage(path: str, *, synchronous: str = "FULL", busy_timeout_ms: int = 5000,
                       create: bool = True) -> Storage:
    """Open (creating and migrating when ``create``) the database at ``path``."""
    storage: SQLiteStorage = await SQLiteStorage.open(
        path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms, create=create)
    return storage


__all__ = [
    "AuditEntry", "BackupError", "BackupReport", "BadCursor", "Busy", "Hit", "JoinLink", "Member", "MemberRoom",
    "MigrationError", "NewRow", "QueryRefused", "RoomStats", "RowRejected", "SessionRecord", "Storage",
    "StorageError", "TooSlow", "Unavailable", "open_storage", "utc_instant",
]
