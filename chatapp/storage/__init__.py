"""Storage: the only place that knows SQL, holds connections or imports a database driver.

Everything else asks a :class:`Storage` (see :mod:`chatapp.storage.base`) opened by
:func:`open_storage`, and catches the errors defined there.
"""

from __future__ import annotations

from .base import Storage
from .records import (
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
    StorageError,
    TooSlow,
    Unavailable,
    utc_instant,
)
from .sqlite import SQLiteStorage
from .sqlite.search import QueryRefused

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: str) -> bool:
    return target.startswith(POSTGRES_SCHEMES)


async def open_storage(path: str, *, synchronous: str = "FULL", busy_timeout_ms: int = 5000,
                       create: bool = True) -> Storage:
    """Open (creating and migrating when ``create``) the database at ``path``: a SQLite file,
    or a PostgreSQL database when ``path`` is a ``postgresql://`` URL (``synchronous`` and
    ``busy_timeout_ms`` are SQLite's; the server's own settings rule PostgreSQL)."""
    if is_postgres_url(path):
        # Imported here: a SQLite-only server never loads the PostgreSQL driver.
        from .postgres import PostgresStorage

        postgres: PostgresStorage = await PostgresStorage.open(path, create=create)
        return postgres
    storage: SQLiteStorage = await SQLiteStorage.open(
        path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms, create=create)
    return storage


__all__ = [
    "AuditEntry", "BackupError", "BackupReport", "BadCursor", "Busy", "Hit", "JoinLink", "Member", "MemberRoom",
    "MigrationError", "NewRow", "QueryRefused", "RoomStats", "RowRejected", "SessionRecord", "Storage",
    "StorageError", "TooSlow", "Unavailable", "is_postgres_url", "open_storage", "utc_instant",
]
