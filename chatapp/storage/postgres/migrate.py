"""The migration runner for PostgreSQL: ``migrations/postgres/NNNN_name.sql``, in order.

The same rules as SQLite's (:mod:`chatapp.storage.sqlite.migrate`): forward-only, each file
in its own transaction, recorded in ``schema_migrations``, a database from a newer chatapp
refused. Several nodes starting at once take turns on a session advisory lock, so exactly
one applies what is missing and the others find it done. Files are numbered as SQLite's
are (``0011_files.sql`` ports ``migrations/0011_files.sql``); ``0001_initial.sql`` holds
SQLite's 0001 to 0010 at once.
"""

from __future__ import annotations

import logging

import asyncpg

from ...resources import resource_dir
from ..records import MigrationError
from ..sqlite.migrate import Migration, load_migrations

log = logging.getLogger(__name__)

# pg_advisory_lock's key for migrations: "chat" in ASCII. Advisory locks are per database.
ADVISORY_KEY = 0x63686174


def postgres_migrations() -> list[Migration]:
    return load_migrations(resource_dir("migrations") / "postgres")


async def has_schema(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"))


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply what is missing, under the advisory lock; the versions applied."""
    migrations = postgres_migrations() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_KEY)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)")
        applied = {int(r[0]) for r in await conn.fetch("SELECT version FROM schema_migrations")}
        known = {m.version for m in migrations}
        newer = sorted(applied - known)
        if newer:
            raise MigrationError(
                f"the database has schema version {max(newer)}, newer than this chatapp knows "
                f"({max(known, default=0)}); upgrade chatapp or use a backup made for this version")
        done: list[int] = []
        for m in migrations:
            if m.version in applied:
                continue
            log.info("applying migration %s", m.name)
            async with conn.transaction():
                await conn.execute(m.sql)  # no arguments: the simple protocol runs a whole script
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES "
                    "($1, $2, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))",
                    m.version, m.name)
            done.append(m.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_KEY)
