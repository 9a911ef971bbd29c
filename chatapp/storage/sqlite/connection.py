"""SQLite connections: one that writes, a small pool that reads, and a bounded slow lane.

- **The write connection** runs every write. aiosqlite gives it one thread and runs its
  calls one at a time, so writes never interleave; the chat writer's batches and the
  operator's changes queue on it in the order they were asked for.
- **The read pool** (a few ``query_only`` connections, each on its own thread) serves
  room pages, history and figures. WAL lets them read committed data while a write runs;
  each read goes to the connection with the fewest reads queued.
- **The slow lane** (search and export) has connections of its own, so a burst of
  expensive searches cannot hold a room page; it admits a bounded number of callers
  (past that: :class:`Busy`, which the HTTP layer answers with 503 and Retry-After), and
  each query has a time budget enforced by SQLite's progress handler (:class:`TooSlow`).

Errors from the driver become the interface's errors in :func:`translate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, Self

import aiosqlite

from ..records import Busy, RowRejected, StorageError, TooSlow, Unavailable
from .indexer import SearchIndexer
from .migrate import migrate

log = logging.getLogger(__name__)

READERS = 2  # read connections for pages, history and figures
SPILL = 16  # reads queued on one reader before the next one takes new ones
LANE_CONNECTIONS = 2  # searches and exports running at once
LANE_WAITING = 4  # more may wait for a lane connection; past that they are told Busy
SEARCH_BUDGET = 2.0  # seconds one slow-lane query may run before it is interrupted
PROGRESS_STEPS = 10_000  # SQLite VM steps between checks of the budget (~1 ms)

Row = Any  # what the driver returns: a tuple of column values


def translate(exc: sqlite3.Error) -> StorageError:
    """The interface's error for a driver error: one row's fault, or the database's."""
    if isinstance(exc, sqlite3.IntegrityError):
        return RowRejected(str(exc))
    if isinstance(exc, sqlite3.OperationalError) and "interrupted" in str(exc):
        return TooSlow("the query took too long and was stopped")
    return Unavailable(str(exc))


def migrate_file(path: str) -> list[int]:
    """Create or upgrade the database file (blocking: run in a thread at start-up)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA busy_timeout = 5000")
        return migrate(conn)
    finally:
        conn.close()


async def connect(path: str, *, synchronous: str, busy_timeout_ms: int,
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


def _lower(text: str | None) -> str | None:
    return None if text is None else text.lower()


class _LaneConnection:
    """A slow-lane connection with the deadline its progress handler checks."""

    __slots__ = ("conn", "deadline")

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self.deadline = float("inf")

    def over_budget(self) -> int:
        # Runs on the connection's thread; a non-zero answer interrupts the statement.
        return 1 if time.monotonic() > self.deadline else 0


class SQLiteBase:
    """The connections and the three ways to use them; the query mixins build on these."""

    def __init__(self, path: str, write: aiosqlite.Connection, readers: list[aiosqlite.Connection],
                 lane: list[_LaneConnection]) -> None:
        self.path = path
        self._write_conn = write
        self._all = [write, *readers, *(c.conn for c in lane)]
        self._readers = readers
        self._reads_queued = [0] * len(readers)
        self._lane: asyncio.Queue[_LaneConnection] = asyncio.Queue()
        for lane_conn in lane:
            self._lane.put_nowait(lane_conn)
        self._lane_users = 0
        self.search_budget = SEARCH_BUDGET
        self._indexer = SearchIndexer(self._write, self._read)

    @classmethod
    async def open(cls, path: str, *, synchronous: str = "FULL", busy_timeout_ms: int = 5000,
                   create: bool = True) -> Self:
        if not create and not await asyncio.to_thread(Path(path).is_file):
            raise Unavailable(f"no database at {path}")
        try:
            await asyncio.to_thread(migrate_file, path)
        except sqlite3.Error as exc:
            raise translate(exc) from exc
        opened: list[aiosqlite.Connection] = []

        async def one(readonly: bool) -> aiosqlite.Connection:
            conn = await connect(path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms,
                                 readonly=readonly)
            opened.append(conn)
            return conn

        try:
            write = await one(False)
            readers = [await one(True) for _ in range(READERS)]
            lane = [_LaneConnection(await one(True)) for _ in range(LANE_CONNECTIONS)]
            for lc in lane:
                await lc.conn.set_progress_handler(lc.over_budget, PROGRESS_STEPS)
                # Search's case-blind match on messages not indexed yet (.search, .indexer).
                await lc.conn.create_function("chatapp_lower", 1, _lower, deterministic=True)
            storage = cls(path, write, readers, lane)
            await storage._indexer.start()
        except BaseException:
            for conn in opened:
                await conn.close()
            raise
        return storage

    async def close(self) -> None:
        await self._indexer.close()
        for conn in self._all:
            try:
                await conn.close()
            except Exception:  # closing must go on for the other connections
                log.exception("closing a database connection failed")

    # ---- the three ways in ----

    async def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        # To the first reader with fewer than SPILL reads queued (else the least busy), not
        # one connection checked out per read: a connection's thread then runs its queue
        # back to back instead of sleeping and being woken for every read, which cost a
        # third of the history API's throughput on one core (4,300 requests/s against
        # 6,100). A reader stuck on a long read fills up and the next one takes new reads.
        # Slow queries (search, export) have the slow lane.
        queued = self._reads_queued
        i = next((i for i, n in enumerate(queued) if n < SPILL), None)
        if i is None:
            i = queued.index(min(queued))
        queued[i] += 1
        try:
            return list(await self._readers[i].execute_fetchall(sql, tuple(params)))
        except sqlite3.Error as exc:
            raise translate(exc) from exc
        finally:
            queued[i] -= 1

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        """One autocommit statement on the write connection (atomic on its own)."""
        try:
            return list(await self._write_conn.execute_fetchall(sql, tuple(params)))
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    async def _write_script(self, statements: Iterable[tuple[str, Iterable[Any]]]) -> list[int]:
        """Several statements in one transaction on the write connection; their row counts.

        Only for callers that cannot interleave with the chat writer's batches (the
        command-line import, which has a storage of its own): aiosqlite runs calls one
        at a time, but another task's statement could slip between ours.
        """
        conn = self._write_conn
        counts: list[int] = []
        try:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    cursor = await conn.execute(sql, tuple(params))
                    counts.append(cursor.rowcount)
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise translate(exc) from exc
        return counts

    @contextlib.asynccontextmanager
    async def _slow_lane(self) -> AsyncIterator[_LaneConnection]:
        """A slow-lane connection, or Busy when too many are running or waiting already."""
        if self._lane_users >= LANE_CONNECTIONS + LANE_WAITING:
            raise Busy("too many searches and exports are running; try again in a moment")
        self._lane_users += 1
        try:
            lane_conn = await self._lane.get()
            try:
                yield lane_conn
            finally:
                lane_conn.deadline = float("inf")
                self._lane.put_nowait(lane_conn)
        finally:
            self._lane_users -= 1

    async def _lane_read(self, lane_conn: _LaneConnection, sql: str, params: Iterable[Any] = (),
                         budget: float | None = None) -> list[Row]:
        lane_conn.deadline = time.monotonic() + (self.search_budget if budget is None else budget)
        try:
            return list(await lane_conn.conn.execute_fetchall(sql, tuple(params)))
        except sqlite3.Error as exc:
            raise translate(exc) from exc
        finally:
            lane_conn.deadline = float("inf")

    async def ping(self) -> None:
        await self._read("SELECT 1")

    async def size_bytes(self) -> int:
        return await asyncio.to_thread(database_bytes, self.path)

    async def free_bytes(self) -> int | None:
        folder = Path(self.path).parent  # relative paths resolve against the same directory
        return (await asyncio.to_thread(shutil.disk_usage, folder)).free


def database_bytes(db: str) -> int:
    """Bytes on disk: the database file and its write-ahead log (blocking; run in a thread)."""
    total = 0
    for path in (Path(db), Path(db + "-wal")):
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size
    return total
