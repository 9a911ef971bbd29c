"""``chatapp backup PATH``: a consistent copy of the live database, checked before it counts.

SQLite's online backup API copies the database through its own pager, so the copy is
one committed state even while the server keeps writing: it is taken in a single step,
which in WAL mode is one read transaction that never blocks the server's writer. The
copy is written beside PATH under a temporary name, switched out of WAL mode so it is
one self-contained file, checked with ``PRAGMA integrity_check``, and only then moved
into place; an existing PATH is never overwritten unless asked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


class BackupError(Exception):
    """The backup was not made; the message says why, in one line."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    bytes: int
    messages: int

    def __str__(self) -> str:
        return (f"backup written to {self.path}: {self.bytes} bytes, {self.messages} messages, "
                "integrity ok")


def backup(db: str, dest: str, *, force: bool = False) -> BackupReport:
    source = Path(db)
    target = Path(dest)
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
            has_messages = dst.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages'").fetchone()
            return int(dst.execute("SELECT count(*) FROM messages").fetchone()[0]) if has_messages else 0
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
