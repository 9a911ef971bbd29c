"""The log follower: how a node of a cluster learns what every node stored, in id order.

On PostgreSQL, ids are drawn from one sequence, and each write transaction holds its rooms'
shard-row locks while it draws them, so within a shard rows commit in id order: reading
``id > cursor`` a shard at a time never skips a row that commits late. One task per shard
keeps a cursor and reads on whenever it is woken: by PostgreSQL's NOTIFY after another
node's commit, by this node's own writer, and at least once every :data:`TICK` seconds
(a NOTIFY can be lost with its connection). What it reads goes to ``deliver`` in id order,
so no node can show id 11 before id 10 and every node shows the same log.

A read that fails (PostgreSQL restarting, a network cut) is retried with backoff from the
same cursor: nothing committed is skipped, however long the outage. The follower's health
(:attr:`LogFollower.stalled`) is part of ``/healthz``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from ..models import Message, RoomEvent

log = logging.getLogger(__name__)

PAGE = 500  # rows per read; a shard far behind is read a page at a time, in order
TICK = 1.0  # seconds between reads of a shard nobody woke (a lost NOTIFY costs at most this)
BACKOFF_MIN, BACKOFF_MAX = 0.1, 2.0  # seconds between retries while the database fails
STALLED_AFTER = 5.0  # seconds of failed reads after which the node reports itself unhealthy

Logged = Message | RoomEvent
Deliver = Callable[[Sequence[Logged]], None]


class SharedLog(Protocol):
    """What the follower needs from storage (:class:`chatapp.storage.Storage` on PostgreSQL)."""

    @property
    def shards(self) -> int: ...
    def shard_of(self, room: str) -> int: ...
    async def log_after_shard(self, shard: int, after: int, limit: int) -> list[Logged]: ...
    async def shard_heads(self) -> dict[int, int]: ...
    async def listen_log(self, callback: Callable[[int], None]) -> None: ...
    async def unlisten_log(self) -> None: ...


class _Shard:
    """One shard's cursor and the task that follows it."""

    __slots__ = ("cursor", "number", "task", "wake")

    def __init__(self, number: int, cursor: int) -> None:
        self.number = number
        self.cursor = cursor
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


class LogFollower:
    """Follows every shard of ``store`` from its head at :meth:`start`, handing rows to ``deliver``."""

    def __init__(self, store: SharedLog, deliver: Deliver, *, tick: float = TICK) -> None:
        self._store = store
        self._deliver = deliver
        self._tick = tick
        self._shards: list[_Shard] = []
        self._failing_since: float | None = None
        self._read_lock: dict[int, asyncio.Lock] = {}
        self.delivered = 0  # rows handed to deliver, for tests and the benchmark

    @property
    def cursors(self) -> dict[int, int]:
        return {s.number: s.cursor for s in self._shards}

    @property
    def stalled(self) -> bool:
        """Reads have failed for longer than :data:`STALLED_AFTER`: this node is behind the log."""
        since = self._failing_since
        return since is not None and time.monotonic() - since > STALLED_AFTER

    async def start(self) -> None:
        """Start from the log's heads (what was stored before is history, not news), listen
        for commits, and start one task per shard."""
        heads = await self._store.shard_heads()
        self._shards = [_Shard(n, heads.get(n, 0)) for n in range(self._store.shards)]
        self._read_lock = {s.number: asyncio.Lock() for s in self._shards}
        await self._store.listen_log(self.wake)
        for shard in self._shards:
            shard.task = asyncio.create_task(self._follow(shard), name=f"chatapp-follow-{shard.number}")
        log.info("following %d shards of the log from id %d", len(self._shards),
                 max(heads.values(), default=0))

    async def close(self) -> None:
        tasks = [s.task for s in self._shards if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self._store.unlisten_log()
        except Exception as exc:  # closing anyway: the connection may be gone already
            log.debug("unlisten failed: %s", exc)

    def wake(self, shard: int) -> None:
        """Something was committed in ``shard`` (a NOTIFY, or this node's writer): read it now."""
        if 0 <= shard < len(self._shards):
            self._shards[shard].wake.set()

    def wake_room(self, room: str) -> None:
        self.wake(self._store.shard_of(room))

    async def catch_up(self, timeout: float) -> bool:
        """Read every shard up to what is committed now (shutdown: deliver this node's last
        writes before its sockets close). Whether it got there in time."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(self._read(s) for s in self._shards))
        except TimeoutError:
            return False
        except Exception as exc:
            log.warning("could not catch up with the log: %s", exc)
            return False
        return True

    async def _follow(self, shard: _Shard) -> None:
        backoff = BACKOFF_MIN
        while True:
            try:
                async with asyncio.timeout(self._tick):
                    await shard.wake.wait()
            except TimeoutError:
                pass  # the periodic read: a NOTIFY may have been lost
            shard.wake.clear()
            try:
                await self._read(shard)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: retry from the same cursor
                self._failed(exc)
                await asyncio.sleep(backoff)  # a retry interval, not a wait for an event
                backoff = min(backoff * 2, BACKOFF_MAX)
                shard.wake.set()
                continue
            backoff = BACKOFF_MIN
            self._recovered()

    async def _read(self, shard: _Shard) -> None:
        # One reader per shard at a time (its task, or catch_up): the cursor only rises.
        async with self._read_lock[shard.number]:
            while True:
                rows = await self._store.log_after_shard(shard.number, shard.cursor, PAGE)
                rows = [r for r in rows if r.id > shard.cursor]
                if rows:
                    shard.cursor = rows[-1].id
                    self.delivered += len(rows)
                    self._deliver(rows)
                if len(rows) < PAGE:
                    return

    def _failed(self, exc: Exception) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.warning("reading the log failed (%s); retrying from the same place", exc)

    def _recovered(self) -> None:
        if self._failing_since is not None:
            log.warning("reading the log again after %.1f s; nothing was skipped",
                        time.monotonic() - self._failing_since)
            self._failing_since = None
