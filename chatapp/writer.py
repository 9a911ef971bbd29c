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
                        if not p.future.done():
                            p.future.set_exception(NotStored("internal error"))
            self._idle.set()

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            stored = await self._insert(batch)
        except sqlite3.Error as exc:
            if len(batch) == 1:
                log.warning("message not stored: %s", exc)
                if not batch[0].future.done():
                    batch[0].future.set_exception(NotStored(str(exc)))
                return
            # One bad row must not sink the others: retry them one by one.
            log.warning("batch of %d not stored (%s); retrying one by one", len(batch), exc)
            for p in batch:
                await self._commit([p])
            return
        self._publish([s for s in stored if not s.duplicate])
        for p, s in zip(batch, stored, strict=True):
            if not p.future.done():
                p.future.set_result(s)

    async def _insert(self, batch: list[_Pending]) -> list[Stored]:
        ts = utc_now_iso()
        params: list[object] = []
        for p in batch:
            params += (p.room, p.user, p.body, ts, p.client_id)
        values = ",".join(["(?,?,?,?,?)"] * len(batch))
        # A single statement is atomic in autocommit mode: one transaction for the batch.
        rows = await self._store.writer.execute_fetchall(
            "INSERT INTO messages (room, user, body, ts, client_id) VALUES "
            f"{values} ON CONFLICT DO NOTHING RETURNING id, room, user, body, ts, client_id",
            params,
        )
        inserted = sorted((Message(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows),
                          key=lambda m: m.id)
        inserted_keys = {(m.room, m.client_id) for m in inserted if m.client_id is not None}
        # Ids are handed out in VALUES order; a row that hit the client_id index is a retry.
        seen: set[tuple[str, str]] = set()
        is_dup: list[bool] = []
        for p in batch:
            if p.client_id is None:
                is_dup.append(False)
                continue
            key = (p.room, p.client_id)
            is_dup.append(key in seen or key not in inserted_keys)
            seen.add(key)
        fresh = iter(inserted)
        originals: dict[tuple[str, str], Message] = {
            (m.room, m.client_id): m for m in inserted if m.client_id is not None
        }
        missing = {(p.room, p.client_id) for p, d in zip(batch, is_dup, strict=True)
                   if d and p.client_id is not None and (p.room, p.client_id) not in originals}
        if missing:
            originals.update(await self._store.by_client_ids(missing))
        result: list[Stored] = []
        for p, dup in zip(batch, is_dup, strict=True):
            if dup:
                assert p.client_id is not None
                original = originals[(p.room, p.client_id)]
                result.append(Stored(original, original.frame_text(), True))
            else:
                m = next(fresh)
                result.append(Stored(m, m.frame_text(), False))
        return result
