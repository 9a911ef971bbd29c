"""The single writer: every chat message is stored here, in batches, then published.

Senders hand a message to :meth:`Writer.submit` and get a future. One task takes whatever
has queued up while the previous commit ran and inserts it with one multi-row statement
(one transaction, one fsync, one hop to the database thread). Only after that commit does
it publish the batch, in id order, so whatever anyone sees is already in the history.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .models import Message, utc_now_iso
from .store import Store

log = logging.getLogger(__name__)

# SQLite allows 32,766 bound variables per statement (five a row). A batch also lands in
# every client queue at once, so it must stay well under the send_queue setting.
MAX_BATCH = 256


class NotStored(Exception):
    """The database refused the write; nothing was published for it."""


class WriterClosed(Exception):
    """The server is shutting down and takes no new messages."""


@dataclass(frozen=True)
class Stored:
    message: Message
    text: str
    duplicate: bool  # a retry of a client_id already stored: the original comes back


@dataclass
class _Pending:
    room: str
    user: str
    body: str
    client_id: str | None
    future: asyncio.Future[Stored] = field(repr=False)


Publish = Callable[[Sequence[Stored]], None]


class Writer:
    def __init__(self, store: Store, publish: Publish) -> None:
        self._store = store
        self._publish = publish
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chatapp-writer")

    def submit(self, room: str, user: str, body: str, client_id: str | None) -> asyncio.Future[Stored]:
        if self._closed:
            raise WriterClosed()
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(room, user, body, client_id, future))
        self._idle.clear()
        self._wake.set()
        return future

    async def drain(self) -> None:
        """Wait until everything submitted so far is committed and published."""
        await self._idle.wait()

    async def close(self) -> None:
        """Take nothing more, finish what was accepted, stop the task."""
        self._closed = True
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    await self._commit(batch)
                except Exception:  # the writer must outlive any one batch
                    log.exception("unexpected error while storing a batch")
                    for p in batch:
                        _fail(p, "internal error")
            self._idle.set()

    async def _commit(self, batch: list[_Pending]) -> None:
        ts = utc_now_iso()
        try:
            inserted = await self._store.insert_messages(
                [(p.room, p.user, p.body, ts, p.client_id) for p in batch])
        except sqlite3.Error as exc:
            if len(batch) == 1:
                log.warning("message not stored: %s", exc)
                _fail(batch[0], str(exc))
                return
            # One bad row must not sink the others: retry them one by one.
            log.warning("batch of %d not stored (%s); retrying one by one", len(batch), exc)
            for p in batch:
                await self._commit([p])
            return
        # Ids follow VALUES order, so the inserted rows line up with the pending messages
        # that were not retries: a client_id already stored, or seen earlier in this batch.
        originals = {(m.room, m.client_id): m for m in inserted if m.client_id is not None}
        fresh = iter(inserted)
        seen: set[tuple[str, str]] = set()
        done: list[tuple[_Pending, Stored]] = []
        retries: list[tuple[_Pending, tuple[str, str]]] = []
        for p in batch:
            if p.client_id is not None:
                key = (p.room, p.client_id)
                if key in seen or key not in originals:
                    retries.append((p, key))
                    continue
                seen.add(key)
            m = next(fresh)
            done.append((p, Stored(m, m.frame_text(), False)))
        # Published straight after the commit, before anything else can fail.
        self._publish([s for _, s in done])
        for p, stored in done:
            if not p.future.done():
                p.future.set_result(stored)
        if retries:
            await self._answer_retries(retries, originals)

    async def _answer_retries(self, retries: list[tuple[_Pending, tuple[str, str]]],
                              originals: dict[tuple[str, str], Message]) -> None:
        """Each retry gets the original frame back (to its own socket, not the room)."""
        missing = {key for _, key in retries if key not in originals}
        try:
            if missing:
                originals.update(await self._store.by_client_ids(missing))
        except sqlite3.Error as exc:
            for p, _ in retries:
                _fail(p, str(exc))
            return
        for p, key in retries:
            original = originals.get(key)
            if original is None:  # deleted since (by an operator): a new send stores it anew
                _fail(p, "the original message was deleted")
            elif not p.future.done():
                p.future.set_result(Stored(original, original.frame_text(), True))


def _fail(p: _Pending, why: str) -> None:
    if not p.future.done():
        p.future.set_exception(NotStored(why))
