"""Read positions: how far each connected member has read in each room, written in batches.

Pages report ``read`` frames (debounced on their side); the server keeps the highest id per
member and room in memory, marks it dirty, and writes every dirty position with one
statement every :data:`FLUSH_EVERY` seconds, and once more at shutdown. So a room read on
a busy day costs one row update per flush, not one per message per reader. A page about
to be rendered for a member with dirty positions flushes first, so its counts agree.

Positions only move forward, here and in SQL (``max``): a late frame from a stale tab
cannot make a room unread again. Posting counts as reading up to one's own message (the
database does that by trigger; :meth:`ReadPositions.posted` keeps memory in step).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from ..storage import Storage, StorageError

log = logging.getLogger(__name__)

FLUSH_EVERY = 2.0  # seconds between writes of dirty read positions


class ReadPositions:
    def __init__(self, store: Storage) -> None:
        self._store = store
        self._known: dict[int, dict[str, int]] = {}  # connected member -> room -> last read id
        self._dirty: dict[tuple[int, str], int] = {}
        self._flushing: asyncio.Lock | None = None

    def load(self, member_id: int, positions: dict[str, int]) -> None:
        """Positions just read from the database for a member whose socket joined."""
        known = self._known.setdefault(member_id, {})
        for room, last_read in positions.items():
            if last_read > known.get(room, 0):
                known[room] = last_read

    def position(self, member_id: int, room: str) -> int:
        return self._known.get(member_id, {}).get(room, 0)

    def advance(self, member_id: int, room: str, last_read: int) -> bool:
        """A page read ``room`` up to ``last_read``; True if that is further than known."""
        known = self._known.setdefault(member_id, {})
        if last_read <= known.get(room, 0):
            return False
        known[room] = last_read
        self._dirty[(member_id, room)] = last_read
        return True

    def posted(self, member_id: int, room: str, message_id: int) -> bool:
        """The member posted ``message_id``: read up to there (already written by the
        database's trigger, so not dirty). True if the member is connected and it moved."""
        known = self._known.get(member_id)
        if known is None or message_id <= known.get(room, 0):
            return False
        known[room] = message_id
        return True

    def forget(self, member_id: int) -> None:
        """The member's last socket left; dirty positions stay until the next flush."""
        self._known.pop(member_id, None)

    def forget_room(self, member_id: int, room: str) -> None:
        known = self._known.get(member_id)
        if known is not None:
            known.pop(room, None)
        self._dirty.pop((member_id, room), None)

    def dirty_for(self, member_id: int) -> bool:
        return any(m == member_id for m, _ in self._dirty)

    @property
    def dirty(self) -> int:
        return len(self._dirty)

    async def flush(self) -> int:
        """Write every dirty position in one statement; how many. On a database error they
        stay dirty (unless newer ones came meanwhile) for the next try."""
        if self._flushing is None:
            self._flushing = asyncio.Lock()
        async with self._flushing:
            if not self._dirty:
                return 0
            batch, self._dirty = self._dirty, {}
            try:
                await self._store.save_read_positions([(m, room, last) for (m, room), last in batch.items()])
            except StorageError as exc:
                log.warning("could not save %d read positions (will retry): %s", len(batch), exc)
                for key, last in batch.items():
                    if last > self._dirty.get(key, 0):
                        self._dirty[key] = last
                return 0
            return len(batch)

    async def flush_member(self, member_id: int) -> None:
        """Before a page of this member's is rendered: their positions as they are now."""
        if self.dirty_for(member_id):
            await self.flush()


@contextlib.asynccontextmanager
async def flushing(reads: ReadPositions, every: float = FLUSH_EVERY) -> AsyncIterator[None]:
    """Flush every ``every`` seconds while the app runs, and once more as it stops (before
    the database closes: cleanup contexts unwind in reverse)."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)  # a periodic write, not a wait for an event
            await reads.flush()

    task = asyncio.create_task(loop(), name="chatapp-read-positions")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        written = await reads.flush()
        if written:
            log.info("saved %d read positions at shutdown", written)
