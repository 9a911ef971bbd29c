"""Following the log across nodes: what a node reads to hand other nodes' writes to its hub.

The interface (``# ---- cluster`` in :class:`chatapp.storage.base.Storage`):

- :attr:`shards` and :meth:`shard_of`: which shard a room's rows are in (:mod:`.ordering`).
- :meth:`log_after_shard`: a shard's messages and room events after a cursor, in id order;
  because ids commit in id order within a shard, following it never skips a row.
- :meth:`shard_heads`: each shard's newest id, a node's starting cursors.
- :meth:`listen_log` / :meth:`unlisten_log`: ``LISTEN chatapp_log`` on a connection of its
  own, calling back with the shard number of each NOTIFY a writer sent after its commit.

A NOTIFY only says "read now": it may be lost (the listening connection drops, and is made
again), so followers also read on a timer; after every reconnect the callback is called for
every shard, since notifications sent while it was away are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from ...models import Message, RoomEvent
from .connection import CONNECT_TIMEOUT, DRIVER_ERRORS, PostgresBase, driver_errors, server_settings
from .messages import log_entry, log_sql
from .ordering import LOG_CHANNEL

log = logging.getLogger(__name__)

RECONNECT_FIRST = 0.1  # seconds before the first attempt to listen again; doubling each time
RECONNECT_MOST = 2.0  # and never more than this
CHECK_EVERY = 5.0  # seconds between checks that a quiet listening connection is still alive


class LogListener:
    """Keeps one connection LISTENing on :data:`LOG_CHANNEL`, making it again when it drops."""

    def __init__(self, url: str, shard_lock: bool, shards: int, callback: Callable[[int], None]) -> None:
        self.url = url
        self.settings = server_settings(shard_lock)
        self.shards = shards
        self.callback = callback
        self.conn: asyncpg.Connection | None = None
        self.lost = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            shard = int(payload)
        except ValueError:
            log.warning("ignoring a %s notification that names no shard: %r", LOG_CHANNEL, payload)
            return
        self.callback(shard)

    def _terminated(self, _conn: object) -> None:
        self.lost.set()

    async def connect(self) -> None:
        conn = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT, server_settings=self.settings)
        try:
            conn.add_termination_listener(self._terminated)
            await conn.add_listener(LOG_CHANNEL, self._notified)
        except BaseException:
            conn.terminate()
            raise
        self.conn = conn
        self.lost.clear()

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._keep())

    async def _keep(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.lost.wait(), CHECK_EVERY)
            if not self.lost.is_set() and await self._alive():
                continue
            await self._drop()
            delay = RECONNECT_FIRST
            while True:
                try:
                    await self.connect()
                    break
                except DRIVER_ERRORS as exc:
                    log.warning("listening for %s again failed (%s); retrying in %.1f s", LOG_CHANNEL, exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RECONNECT_MOST)
            log.info("listening for %s again", LOG_CHANNEL)
            for shard in range(self.shards):  # what was sent meanwhile is lost: read everything
                self.callback(shard)

    async def _alive(self) -> bool:
        if self.conn is None or self.conn.is_closed():
            return False
        try:
            await asyncio.wait_for(self.conn.fetchval("SELECT 1"), CONNECT_TIMEOUT)
        except DRIVER_ERRORS:
            return False
        return True

    async def _drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        conn, self.conn = self.conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), CONNECT_TIMEOUT)
            except DRIVER_ERRORS:
                conn.terminate()


class ClusterMixin(PostgresBase):
    async def log_after_shard(self, shard: int, after: int, limit: int) -> list[Message | RoomEvent]:
        """Messages and room events of ``shard`` with id > ``after``, in id order, at most
        ``limit``; messages with their reply quotes filled as :meth:`after` fills them.

        Gap-free: a row of the shard that commits later has a higher id than every row
        returned (see :mod:`.ordering`), so the caller may move its cursor to the last id."""
        rows = await self._fetch(
            log_sql("m.shard = $1 AND m.id > $2", "e.shard = $1 AND e.id > $2").replace("$LIMIT", "$3"),
            shard, after, limit)
        return [log_entry(r) for r in rows]

    async def shard_heads(self) -> dict[int, int]:
        """The newest id of each shard's messages and events (0 for an empty shard)."""
        rows = await self._fetch(
            "SELECT s.id, greatest("
            "(SELECT coalesce(max(m.id), 0) FROM messages m WHERE m.shard = s.id), "
            "(SELECT coalesce(max(e.id), 0) FROM room_events e WHERE e.shard = s.id)) FROM shards s ORDER BY s.id")
        return {int(r[0]): int(r[1]) for r in rows}

    async def listen_log(self, callback: Callable[[int], None]) -> None:
        """LISTEN on a dedicated connection: ``callback(shard)`` for each NOTIFY a writer sends
        after committing to that shard (on the event loop, so it must not block). Returns once
        listening; Unavailable when the database cannot be reached. The connection is made
        again whenever it drops, and then ``callback`` is called for every shard."""
        await self.unlisten_log()
        listener = LogListener(self.url, self.shard_lock, self.shards, callback)
        with driver_errors():
            await listener.connect()
        listener.start()
        self._listener = listener

    async def unlisten_log(self) -> None:
        """Stop listening (and close that connection); no callback is called after this."""
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()
