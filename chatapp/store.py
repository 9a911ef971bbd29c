"""The message store: every SQL statement about messages and rooms, over aiosqlite.

Two connections: the writer's (owned by :class:`chatapp.writer.Writer`, the only one that
writes messages) and a reader, so room pages and history never queue behind a commit.
WAL mode lets the reader see every committed batch without blocking the writer.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

from .migrate import migrate
from .models import Message, RoomSummary

log = logging.getLogger(__name__)

_MESSAGE_COLUMNS = "id, room, user, body, ts, client_id"


def migrate_file(path: str) -> list[int]:
    """Create or upgrade the database file; run in a thread at start-up."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA busy_timeout = 5000")
        return migrate(conn)
    finally:
        conn.close()


async def connect(path: str, *, synchronous: str = "FULL", busy_timeout_ms: int = 5000,
                  readonly: bool = False) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA foreign_keys = ON")
        await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        # FULL by default: a frame is broadcast only after its batch is on disk, so what a
        # person saw survives even a power cut; batching pays that fsync once per batch.
        await db.execute(f"PRAGMA synchronous = {synchronous}")
        if readonly:
            await db.execute("PRAGMA query_only = ON")
    except BaseException:
        await db.close()
        raise
    return db


def _message(row: Sequence[Any]) -> Message:
    return Message(int(row[0]), row[1], row[2], row[3], row[4], row[5])


class Store:
    """Reads, plus the few writes that are not messages (room flags)."""

    def __init__(self, reader: aiosqlite.Connection, writer: aiosqlite.Connection) -> None:
        self.reader = reader
        self.writer = writer

    async def ping(self) -> None:
        await self.reader.execute_fetchall("SELECT 1")

    async def recent(self, room: str, limit: int) -> list[Message]:
        rows = await self.reader.execute_fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE room = ? ORDER BY id DESC LIMIT ?",
            (room, limit),
        )
        return [_message(r) for r in reversed(list(rows))]

    async def before(self, room: str, before: int, limit: int) -> tuple[list[Message], bool]:
        """Up to ``limit`` messages with id < before, oldest first, and whether more precede them."""
        rows = list(await self.reader.execute_fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE room = ? AND id < ? "
            "ORDER BY id DESC LIMIT ?",
            (room, before, limit + 1),
        ))
        has_more = len(rows) > limit
        return [_message(r) for r in reversed(rows[:limit])], has_more

    async def after(self, room: str, after: int, limit: int) -> tuple[list[Message], bool]:
        """Up to ``limit`` messages with id > after, oldest first, and whether more follow them."""
        rows = list(await self.reader.execute_fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE room = ? AND id > ? "
            "ORDER BY id LIMIT ?",
            (room, after, limit + 1),
        ))
        has_more = len(rows) > limit
        return [_message(r) for r in rows[:limit]], has_more

    async def around(self, room: str, at: int, limit: int) -> list[Message]:
        """About ``limit`` messages centred on id ``at``, oldest first."""
        older, _ = await self.before(room, at + 1, limit // 2 + 1)
        newer, _ = await self.after(room, at, limit - len(older))
        return older + newer

    async def rooms(self) -> list[RoomSummary]:
        rows = await self.reader.execute_fetchall(
            "SELECT name, message_count, last_message_at, locked FROM rooms "
            "ORDER BY last_message_at DESC NULLS LAST, name"
        )
        return [RoomSummary(r[0], int(r[1]), r[2], bool(r[3])) for r in rows]

    async def room(self, name: str) -> RoomSummary | None:
        rows = list(await self.reader.execute_fetchall(
            "SELECT name, message_count, last_message_at, locked FROM rooms WHERE name = ?",
            (name,),
        ))
        if not rows:
            return None
        r = rows[0]
        return RoomSummary(r[0], int(r[1]), r[2], bool(r[3]))

    async def locked_rooms(self) -> set[str]:
        rows = await self.reader.execute_fetchall("SELECT name FROM rooms WHERE locked = 1")
        return {r[0] for r in rows}

    async def insert_messages(self, rows: Sequence[tuple[str, str, str, str, str | None]]) -> list[Message]:
        """Insert (room, user, body, ts, client_id) rows in one statement, on the writer.

        One statement is atomic in autocommit mode: one transaction and one fsync for the
        whole batch. A row whose (room, client_id) is already stored is skipped. Returns
        the rows inserted, by id, which is VALUES order.
        """
        values = ",".join(["(?,?,?,?,?)"] * len(rows))
        inserted = await self.writer.execute_fetchall(
            f"INSERT INTO messages (room, user, body, ts, client_id) VALUES {values} "
            f"ON CONFLICT DO NOTHING RETURNING {_MESSAGE_COLUMNS}",
            [value for row in rows for value in row],
        )
        return sorted((_message(r) for r in inserted), key=lambda m: m.id)

    async def by_client_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Message]:
        """Stored messages for (room, client_id) pairs, from the writer's connection.

        Asked on the writer's connection because it runs right after that connection's
        own insert, which the reader may not see yet.
        """
        found: dict[tuple[str, str], Message] = {}
        for room, client_id in keys:
            rows = list(await self.writer.execute_fetchall(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE room = ? AND client_id = ?",
                (room, client_id),
            ))
            if rows:
                found[(room, client_id)] = _message(rows[0])
        return found


async def open_store(path: str, *, synchronous: str = "FULL", busy_timeout_ms: int = 5000) -> Store:
    await asyncio.to_thread(migrate_file, path)
    writer = await connect(path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
    try:
        reader = await connect(path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms,
                               readonly=True)
    except BaseException:
        await writer.close()
        raise
    return Store(reader, writer)


async def close_store(store: Store) -> None:
    for conn in (store.reader, store.writer):
        try:
            await conn.close()
        except Exception:  # closing must go on for the other connection
            log.exception("closing a database connection failed")
