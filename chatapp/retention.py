"""Retention: a background task that deletes each room's messages older than it keeps.

A room keeps its messages forever unless ``rooms.retention_days`` is set (the admin sets
it); then, every :data:`INTERVAL` seconds, messages whose ``ts`` is older than that many
days are deleted, :data:`CHUNK` rows per statement, on the write connection. The
triggers keep the room's count and the search index in step, so history and search
follow without anything else to do. People with the room open keep what is already on
their screen until they reload.

A message's attached file goes with it (a trigger, migrations/0011). Each pass also
removes files that no message ever claimed and that are older than :data:`UNLINKED_AGE`:
an upload whose message was never stored, because the server stopped between the two
writes (a refused message's file is deleted by the upload itself).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from .keys import STORE
from .models import iso_utc
from .storage import Storage

log = logging.getLogger(__name__)

INTERVAL = 300.0  # seconds between passes: retention is by days, minutes late is fine
CHUNK = 1000  # rows per DELETE: each one holds the write connection only briefly
# An upload links its file within moments of storing it; an hour is far past any of them.
UNLINKED_AGE = dt.timedelta(hours=1)


async def run_once(store: Storage, now: dt.datetime | None = None) -> int:
    """One pass over every room with a retention period, then over unclaimed files;
    returns how many messages went."""
    now = now or dt.datetime.now(dt.UTC)
    deleted = 0
    for name, days in await store.retention_rooms():
        cutoff = iso_utc(now - dt.timedelta(days=days))
        while True:
            n = await store.delete_older(name, cutoff, CHUNK)
            deleted += n
            if n < CHUNK:
                break
        log.debug("retention: room %s keeps messages since %s", name, cutoff)
    if deleted:
        log.info("retention deleted %d old messages", deleted)
    unlinked = await store.delete_unlinked_files(iso_utc(now - UNLINKED_AGE))
    if unlinked:
        log.info("retention deleted %d files no message claimed", unlinked)
    return deleted


class Retention:
    """The periodic task; ``passes`` counts finished passes so tests can wait for one."""

    def __init__(self, store: Storage, interval: float = INTERVAL,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self.passes = 0
        self._changed = asyncio.Condition()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chatapp-retention")

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def wait_passes(self, n: int) -> None:
        """Wait until at least ``n`` passes have finished (callers bring their own timeout)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.passes >= n)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await run_once(self.store, self.clock() if self.clock else None)
            except Exception:  # a failed pass (a locked database, say) must not end the task
                log.exception("retention pass failed; trying again in %.0f s", self.interval)
            async with self._changed:
                self.passes += 1
                self._changed.notify_all()
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except TimeoutError:
                pass


RETENTION = web.AppKey("retention", Retention)


def setup_retention(app: web.Application, interval: float = INTERVAL) -> None:
    """Run retention while the app runs; register after the database's cleanup context."""

    async def retention(app: web.Application) -> AsyncIterator[None]:
        task = Retention(app[STORE], interval)
        app[RETENTION] = task
        task.start()
        try:
            yield
        finally:
            await task.close()

    app.cleanup_ctx.append(retention)
