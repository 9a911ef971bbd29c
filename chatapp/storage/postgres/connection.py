"""PostgreSQL connections: a pool for pages and writes, a bounded slow lane, and errors.

- **The pool** (asyncpg) serves every read and write. PostgreSQL runs writers concurrently,
  so unlike SQLite there is no one write connection: what must happen in order happens in
  one transaction (:meth:`PostgresBase._transaction`), and whatever adds to a room's log goes
  through :meth:`PostgresBase._log_transaction`, which takes the shard locks first (see
  :mod:`.ordering`) and sends the NOTIFY after commit.
- **The slow lane** (search and export) is a small pool of its own, so a burst of expensive
  searches cannot hold a room page; it admits a bounded number of callers (past that:
  :class:`Busy`) and gives each query a time budget with ``SET LOCAL statement_timeout``
  (:class:`TooSlow` when it runs out).

Driver errors become the interface's errors in :func:`translate`: a constraint or a value
one row got wrong is :class:`RowRejected`; a lost connection, a server that is down or
starting, or anything else the server says is :class:`Unavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Self

import asyncpg

from ..records import Busy, RowRejected, StorageError, TooSlow, Unavailable
from .migrate import has_schema, migrate
from .ordering import LOG_CHANNEL, SHARDS, UNORDERED_SETTING, check_schema, shard_of, shards_of

log = logging.getLogger(__name__)

POOL_MIN = 1
POOL_MAX = 10  # connections per node for pages, history and writes
LANE_CONNECTIONS = 2  # searches and exports running at once
LANE_WAITING = 4  # more may wait for a lane connection; past that they are told Busy
SEARCH_BUDGET = 2.0  # seconds one slow-lane query may run before the server cancels it
CONNECT_TIMEOUT = 5.0  # seconds to reach the server before a call fails as Unavailable
CLOSE_TIMEOUT = 10.0  # seconds close() waits for connections in use before it cuts them

Record = Any  # what the driver returns: an asyncpg.Record, read by position

# What a call to the driver can raise: the server's errors, the client's, and the network's.
# (InternalClientError: a connection the server ended while it sat idle can be left in a state
# asyncpg refuses to use; it is then dropped like any broken connection.)
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError,
                 asyncio.TimeoutError)


def translate(exc: BaseException) -> StorageError:
    """The interface's error for a driver error: one row's fault, or the database's."""
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError | asyncpg.DataError):
        return RowRejected(str(exc))
    if isinstance(exc, asyncpg.QueryCanceledError):
        return TooSlow("the query took too long and was stopped")
    if isinstance(exc, asyncio.TimeoutError):
        return Unavailable("the database did not answer in time")
    return Unavailable(str(exc) or type(exc).__name__)


@contextlib.contextmanager
def driver_errors() -> Iterator[None]:
    try:
        yield
    except DRIVER_ERRORS as exc:
        raise translate(exc) from exc


def server_settings(shard_lock: bool) -> dict[str, str]:
    settings = {
        "application_name": "chatapp",
        # Plans are small and short; JIT compilation would cost more than it saves.
        "jit": "off",
    }
    if not shard_lock:
        settings[UNORDERED_SETTING] = "on"
    return settings


class PostgresBase:
    """The pools and the ways to use them; the query mixins build on these."""

    shards: int = SHARDS

    def __init__(self, url: str, pool: asyncpg.Pool, lane: asyncpg.Pool, *, shard_lock: bool = True) -> None:
        self.url = url
        self.path = url  # what tests and tools pass back to reach the same database
        self.shard_lock = shard_lock
        self._pool = pool
        self._lane = lane
        self._lane_users = 0
        self.search_budget = SEARCH_BUDGET
        self._listener: Any = None  # the LISTEN connection's keeper (.cluster)

    @classmethod
    async def open(cls, url: str, *, create: bool = True, shard_lock: bool = True,
                   pool_max: int = POOL_MAX) -> Self:
        """Connect, migrate (``create``: also a database with no chatapp schema yet), check
        the ordering point, and open the pools."""
        settings = server_settings(shard_lock)
        with driver_errors():
            conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT, server_settings=settings)
            try:
                if not create and not await has_schema(conn):
                    raise Unavailable("no chatapp database there (its schema has never been created)")
                await migrate(conn)
                await check_schema(conn)
            finally:
                await conn.close()
            pool = await asyncpg.create_pool(url, min_size=POOL_MIN, max_size=pool_max, timeout=CONNECT_TIMEOUT,
                                             server_settings=settings)
            try:
                lane = await asyncpg.create_pool(url, min_size=0, max_size=LANE_CONNECTIONS,
                                                 timeout=CONNECT_TIMEOUT,
                                                 server_settings={**settings, "plan_cache_mode": "force_custom_plan"})
            except BaseException:
                await pool.close()
                raise
        return cls(url, pool, lane, shard_lock=shard_lock)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        for pool in (self._pool, self._lane):
            try:
                await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
            except (TimeoutError, *DRIVER_ERRORS):
                log.warning("closing the database pool took too long; cutting its connections")
                pool.terminate()

    # ---- the ways in ----

    async def _fetch(self, sql: str, *args: Any) -> list[Record]:
        with driver_errors():
            async with self._pool.acquire() as conn:
                return list(await conn.fetch(sql, *args))

    async def _fetchrow(self, sql: str, *args: Any) -> Record | None:
        rows = await self._fetch(sql, *args)
        return rows[0] if rows else None

    @contextlib.asynccontextmanager
    async def _begun(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection in a transaction, committed at the end (rolled back on error).

        A connection the server ended while it sat in the pool (a restart, a failover, an
        idle timeout) fails at BEGIN, before anything was written: that one is dropped and
        the transaction begins once more on a fresh connection, so a write is not refused
        for a connection nobody was using.
        """
        for attempt in (1, 2):
            conn = await self._pool.acquire()
            transaction = conn.transaction()
            try:
                await transaction.start()
                break
            except DRIVER_ERRORS:
                await self._release(conn)
                if attempt == 2:
                    raise
        try:
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(*DRIVER_ERRORS):
                    await transaction.rollback()
                raise
            await transaction.commit()
        finally:
            await self._release(conn)

    async def _release(self, conn: asyncpg.Connection) -> None:
        # A connection whose reset fails is closed by the pool, which makes a new one later.
        with contextlib.suppress(*DRIVER_ERRORS):
            await self._pool.release(conn)

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One connection in one transaction: statements that must happen together."""
        with driver_errors():
            async with self._begun() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _log_transaction(self, rooms: Sequence[str] | set[str]) -> AsyncIterator[asyncpg.Connection]:
        """A transaction that adds to the log of ``rooms``: their shards locked first, in
        ascending order; after commit, one NOTIFY per shard (see :mod:`.ordering`)."""
        shards = shards_of(rooms)
        with driver_errors():
            async with self._begun() as conn:
                if self.shard_lock and shards:
                    await conn.execute(
                        "SELECT id FROM shards WHERE id = ANY($1::smallint[]) ORDER BY id FOR UPDATE", shards)
                yield conn
            await self._notify(shards)

    async def _notify(self, shards: list[int]) -> None:
        # After commit: the rows are readable by the time a follower wakes. A lost NOTIFY only
        # delays the followers (they also read on a timer), while the write did commit: so a
        # failure here is logged, never raised as if the write had failed.
        if not shards:
            return
        try:
            async with self._pool.acquire() as conn:
                await conn.execute("SELECT pg_notify($1, s::text) FROM unnest($2::int[]) AS s", LOG_CHANNEL, shards)
        except DRIVER_ERRORS as exc:
            log.warning("NOTIFY %s after commit failed: %s", LOG_CHANNEL, exc)

    def shard_of(self, room: str) -> int:
        """The room's shard: ``messages.shard`` and ``room_events.shard`` of its rows."""
        return shard_of(room)

    @contextlib.asynccontextmanager
    async def _slow_lane(self) -> AsyncIterator[asyncpg.Connection]:
        """A slow-lane connection, or Busy when too many are running or waiting already."""
        if self._lane_users >= LANE_CONNECTIONS + LANE_WAITING:
            raise Busy("too many searches and exports are running; try again in a moment")
        self._lane_users += 1
        try:
            with driver_errors():
                async with self._lane.acquire() as conn:
                    yield conn
        finally:
            self._lane_users -= 1

    async def _lane_fetch(self, conn: asyncpg.Connection, sql: str, *args: Any,
                          budget: float | None = None) -> list[Record]:
        seconds = self.search_budget if budget is None else budget
        with driver_errors():
            async with conn.transaction(readonly=True):
                # Prepared before the budget applies: a timeout that fires while asyncpg
                # prepares (between the statement's description and the server's ready) can
                # leave the connection in a state asyncpg refuses ("cannot switch to state
                # 12; another operation (2) is in progress", MagicStack/asyncpg#1069), and
                # the search then failed as a broken connection instead of as too slow.
                # Planning is not what the budget bounds; running the query is.
                statement = await conn.prepare(sql)
                # 0 would mean "no limit" to PostgreSQL; the least budget is one millisecond.
                await conn.execute(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}")
                return list(await statement.fetch(*args))

    # ---- lifecycle ----

    async def ping(self) -> None:
        await self._fetch("SELECT 1")

    async def size_bytes(self) -> int:
        """The database's size on disk (tables, indexes, TOAST), as pg_database_size sees it."""
        row = await self._fetchrow("SELECT pg_database_size(current_database())")
        return int(row[0]) if row else 0

    async def free_bytes(self) -> int | None:
        return None  # the server's disk is not this process's to see
