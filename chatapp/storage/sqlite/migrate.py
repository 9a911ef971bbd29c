"""The migration runner: numbered ``.sql`` files in ``migrations/``, applied in order.

Each file runs in its own transaction and is recorded in ``schema_migrations``, so a
second start applies nothing. A database that has a migration this code does not know
was written by a newer chatapp and is refused rather than silently misread.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ...resources import resource_dir
from ..records import MigrationError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or resource_dir("migrations")
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file name not of the form NNNN_name.sql: {path.name}")
        found.append(Migration(int(match.group(1)), path.stem, path.read_text("utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migrations share a number")
    return found


def _split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (triggers contain inner semicolons)."""
    statements: list[str] = []
    current = ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip() and not current.strip().startswith("--"):
        statements.append(current.strip())
    return statements


def migrate(conn: sqlite3.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply what is missing; return the versions applied. ``conn`` must be in autocommit mode."""
    migrations = load_migrations() if migrations is None else migrations
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    known = {m.version for m in migrations}
    newer = sorted(applied - known)
    if newer:
        raise MigrationError(
            f"the database has schema version {max(newer)}, newer than this chatapp knows "
            f"({max(known, default=0)}); upgrade chatapp or use a backup made for this version"
        )
    done: list[int] = []
    for m in migrations:
        if m.version in applied:
            continue
        log.info("applying migration %s", m.name)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_statements(m.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) "
                "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                (m.version, m.name),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        done.append(m.version)
    return done
