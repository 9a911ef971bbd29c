"""The search index, filled after the commits in steps (migrations/0017).

A chat batch's commit no longer indexes its messages: :class:`SearchIndexer` is told the
newest id each commit stored, and one step (one ``INSERT INTO search_index_steps``,
atomic on its own) indexes up to :data:`STEP` messages once that many are waiting or the
oldest has waited :data:`DELAY` seconds. A step runs on the write connection like any
write, so it queues behind a batch and a batch behind it; at :data:`STEP` messages it
holds the connection for about 2 ms. Search reads the messages not indexed yet (after
the mark in ``search_indexed``: normally under a second's) from the messages themselves
(see :mod:`.search`), so what was sent a moment ago is found like the rest, and a search
never waits for the write connection. A step is idempotent (it indexes the ids after the
stored mark, up to its own), so steps from two processes may overlap.

Opening the storage catches up on whatever a previous process (or ``chatapp import``)
left unindexed; closing it indexes the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..records import StorageError

log = logging.getLogger(__name__)

STEP = 256  # messages indexed by one step (~2 ms of the write connection)
DELAY = 0.25  # seconds a message may wait to be indexed when fewer than STEP are waiting
RETRY = 1.0  # seconds before trying again after the database refused a step

Write = Callable[[str, Iterable[Any]], Awaitable[list[Any]]]


class SearchIndexer:
    def __init__(self, write: Write, read: Write) -> None:
        self._write = write
        self._read = read
        self.indexed = 0  # every message with id <= indexed is in the index
        self.newest = 0  # the newest message id known to be stored
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        rows = await self._write(
            "SELECT (SELECT upto FROM search_indexed), (SELECT coalesce(max(id), 0) FROM messages)", ())
        self.indexed, newest = int(rows[0][0]), int(rows[0][1])
        self._task = asyncio.create_task(self._run(), name="chatapp-search-indexer")
        self.stored(newest)

    def stored(self, newest: int) -> None:
        """A commit stored messages up to id ``newest``."""
        if newest <= self.newest:
            return
        self.newest = newest
        self._wake.set()
        if newest - self.indexed >= STEP:
            self._full.set()

    async def close(self) -> None:
        """Stop stepping in the background and index whatever is left."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        try:
            await self.refresh()  # messages stored other ways (``chatapp import``) too
            await self.catch_up()
        except StorageError as exc:  # the next start catches up instead
            log.warning("search index left %d messages behind: %s", self.newest - self.indexed, exc)

    async def refresh(self) -> None:
        """Learn of messages stored by other connections too (another process, the sqlite3
        shell): what a search must find is whatever the database holds."""
        rows = await self._read(
            "SELECT (SELECT upto FROM search_indexed), (SELECT coalesce(max(id), 0) FROM messages)", ())
        self.indexed = max(self.indexed, int(rows[0][0]))  # another process may have indexed them
        self.stored(int(rows[0][1]))

    async def catch_up(self, until: int | None = None) -> None:
        """Index every message stored so far (or up to id ``until``), one step after another."""
        until = self.newest if until is None else until
        while self.indexed < until:
            upto = min(until, self.indexed + STEP)
            await self._write("INSERT INTO search_index_steps (upto) VALUES (?)", (upto,))
            self.indexed = max(self.indexed, upto)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.newest - self.indexed < STEP:
                self._full.clear()  # it may have been set by a store during the last step
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(DELAY):
                        await self._full.wait()
            self._full.clear()
            try:
                # Only what is waiting now: chasing what arrives meanwhile would, under a
                # steady flow, step on and on with a few messages each time, and keep the
                # write connection busy in front of the chat's commits.
                await self.catch_up(self.newest)
            except StorageError as exc:  # a held lock, a full disk: try again later
                log.warning("search index step failed: %s", exc)
                await asyncio.sleep(RETRY)
                self._wake.set()
