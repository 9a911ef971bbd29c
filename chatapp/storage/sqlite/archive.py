"""Keeping and copying history on SQLite: import, retention and the online backup.

The backup uses SQLite's online backup API, which copies the database through its own
pager in one step: one committed state, taken in one read transaction that never blocks
the writer. The copy is written beside the target under a temporary name, switched out
of WAL mode so it is one self-contained file, checked with ``PRAGMA integrity_check``,
and only then moved into place; an existing file is never overwritten unless asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ..records import BackupError, BackupReport, NewRow
from .connection import SQLiteBase

BUSY_TIMEOUT_MS = 10_000


class ArchiveMixin(SQLiteBase):
    async def import_rows(self, rows: Sequence[NewRow]) -> int:
        """Insert in one transaction, keeping each ``ts``; (room, client_id) already there are skipped."""
        rooms = sorted({r.room for r in rows})
        counts = await self._write_script([
            *(("INSERT INTO messages (room, user, body, ts, client_id) VALUES (?, ?, ?, ?, ?) "
               "ON CONFLICT DO NOTHING", (r.room, r.user, r.body, r.ts, r.client_id)) for r in rows),
            # The count trigger set last_message_at to the last row inserted, which for old
            # history is in the past: put back the newest time the room really has.
            ("UPDATE rooms SET last_message_at = "
             "(SELECT max(ts) FROM messages WHERE messages.room = rooms.name) "
             f"WHERE name IN ({','.join('?' * len(rooms))})", rooms),
        ])
        return sum(counts[:-1])

    async def retention_rooms(self) -> list[tuple[str, int]]:
        rows = await self._read("SELECT name, retention_days FROM rooms WHERE retention_days > 0")
        return [(r[0], int(r[1])) for r in rows]

    async def delete_older(self, room: str, cutoff: str, limit: int) -> int:
        # The (room, ts) index finds exactly the old rows, however they were inserted.
        rows = await self._write(
            "DELETE FROM messages WHERE id IN "
            "(SELECT id FROM messages WHERE room = ? AND ts < ? LIMIT ?) RETURNING id",
            (room, cutoff, limit))
        if len(rows) < limit:  # the last chunk: the room's changes as old as that go too
            await self._write("DELETE FROM room_events WHERE room = ? AND ts < ?", (room, cutoff))
        return len(rows)

    async def backup(self, dest: Path, *, force: bool = False) -> BackupReport:
        return await asyncio.to_thread(backup_file, self.path, dest, force)


def backup_file(db: str, dest: Path, force: bool) -> BackupReport:
    source, target = Path(db), dest
    if not source.is_file():
        raise BackupError(f"no database at {db}")
    if target.is_dir():
        raise BackupError(f"{dest} is a directory; give a file name")
    if target.exists() and not force:
        raise BackupError(f"{dest} already exists; use --force to overwrite it")
    if not target.parent.is_dir():
        raise BackupError(f"no directory {target.parent}")
    if target.exists() and target.resolve() == source.resolve():
        raise BackupError("the backup cannot replace the database itself")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        messages = _copy(source, tmp)
        _publish(tmp, target, force)
    except sqlite3.Error as exc:
        raise BackupError(f"backup failed: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return BackupReport(target, target.stat().st_size, messages)


def _copy(source: Path, tmp: Path) -> int:
    src = sqlite3.connect(source, isolation_level=None)
    try:
        src.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(dst)  # pages=-1: the whole database in one step, one snapshot
            dst.execute("PRAGMA journal_mode = DELETE")
            result = [row[0] for row in dst.execute("PRAGMA integrity_check")]
            if result != ["ok"]:
                raise BackupError("the copy failed its integrity check: " + "; ".join(result[:3]))
            return int(dst.execute("SELECT count(*) FROM messages").fetchone()[0])
        finally:
            dst.close()
    finally:
        src.close()


def _publish(tmp: Path, target: Path, force: bool) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)  # the copy is on disk before its name says it is a backup
    finally:
        os.close(fd)
    if force:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # fails if target appeared meanwhile: never clobbers
    except FileExistsError:
        raise BackupError(f"{target} already exists; use --force to overwrite it") from None
    except OSError:  # a file system without hard links: check, then rename
        if target.exists():
            raise BackupError(f"{target} already exists; use --force to overwrite it") from None
        os.replace(tmp, target)
