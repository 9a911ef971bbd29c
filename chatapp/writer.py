"""The batch writer: every chat message is stored here, in batches, then published.

Senders hand a message to :meth:`BatchWriter.submit` and get a future. One task (the
writer task) takes whatever queued up while the previous commit ran and stores it with
one multi-row insert (one transaction, one fsync). Only after that commit does it
publish the batch, in id order, so whatever anyone sees is already in the history.

Moderation runs through the same queue (:meth:`BatchWriter.run`): an operation queued
after a message runs after that message is stored, and a message queued after it is
checked against the room state it left. Whether a room takes messages is decided here,
at commit time, by :class:`chatapp.rooms.RoomState`.

A message to a room that is not stored yet creates it. Such messages are counted against
their creator's room allowance (``room_limit``, a :class:`~chatapp.ratelimit.PerAddress`
keyed by the client address): one query per batch asks which of its rooms are new, and
only for rooms the room state has not seen stored lately, so chat in existing rooms pays
nothing for it. Over the allowance the message is refused with ``room_limit``.

When the database refuses a batch, the error decides what happens: one row's fault
(:class:`~chatapp.storage.RowRejected`) retries the others one by one; anything else (a
held lock, a full disk) fails the whole batch at once, so every sender hears
``not_stored`` within about one busy timeout and the next batch tries afresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .formatting import render
from .models import Message, utc_now_iso
from .ratelimit import PerAddress
from .rooms import RoomState
from .storage import NewRow, RowRejected, Storage, StorageError

log = logging.getLogger(__name__)

# SQLite allows 32,766 bound variables per statement (five a row). A batch also lands in
# every client queue at once, so it must stay well under the send_queue setting.
MAX_BATCH = 256

T = TypeVar("T")


class NotStored(Exception):
    """The message was not stored and nothing was published for it; ``code`` says why."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code


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
    epoch: int | None  # the room's epoch when the sender joined; None: not tied to a socket
    future: asyncio.Future[Stored] = field(repr=False)
    creator: str | None = None  # whom creating a room is counted against; None: nobody
    member_id: int | None = None  # the sender's account; None for a guest
    reply_to: int | None = None  # must be a message of the same room (else reply_not_found)
    attachment: str | None = None  # a stored file's description (chatapp/files.py)
    bot_id: int | None = None
    html: str | None = None  # the body rendered, by the sender's own task (see submit)

    def row(self, ts: str) -> NewRow:
        return NewRow(self.room, self.user, self.body, ts, self.client_id, self.member_id,
                      self.reply_to, self.attachment, self.bot_id, self.html)


@dataclass
class _Operation:
    run: Callable[[], Awaitable[Any]]
    future: asyncio.Future[Any] = field(repr=False)


Publish = Callable[[Sequence[Stored]], None]

MiB = 1024 * 1024


class StorageCeiling:
    """Whether the database may grow: under its ceiling, with enough free disk left.

    Asked before every batch, it looks at the disk at most once a second (two ``stat``s
    in a thread), so the message path pays nothing measurable for it.
    """

    INTERVAL = 1.0

    def __init__(self, storage: Storage, max_mb: int = 0, min_free_mb: int = 0) -> None:
        self._storage = storage
        self.max_bytes = max_mb * MiB
        self.min_free = min_free_mb * MiB
        self.full = False
        self._checked = -self.INTERVAL

    async def check(self) -> bool:
        """True when new messages must be refused."""
        if not (self.max_bytes or self.min_free):
            return False
        now = time.monotonic()
        if now - self._checked >= self.INTERVAL:
            self._checked = now
            try:
                size = await self._storage.size_bytes() if self.max_bytes else 0
                free = await self._storage.free_bytes() if self.min_free else None
            except OSError as exc:  # cannot tell: keep the last answer
                log.warning("could not measure the database's disk use: %s", exc)
                return self.full
            full = bool(self.max_bytes and size >= self.max_bytes) or (free is not None and free < self.min_free)
            if full != self.full:
                log.warning("storage %s: database %.1f MiB, %s free", "full, refusing new messages" if full
                            else "has room again", size / MiB, "?" if free is None else f"{free / MiB:.0f} MiB")
            self.full = full
        return self.full


class BatchWriter:
    def __init__(self, storage: Storage, publish: Publish, rooms: RoomState,
                 ceiling: StorageCeiling | None = None, room_limit: PerAddress | None = None) -> None:
        self._storage = storage
        self._publish = publish
        self.rooms = rooms
        self.ceiling = ceiling or StorageCeiling(storage)
        self.room_limit = room_limit if room_limit is not None and room_limit.rate > 0 else None
        self._queue: list[_Pending | _Operation] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chatapp-batch-writer")

    def submit(self, room: str, user: str, body: str, client_id: str | None,
               epoch: int | None = None, *, creator: str | None = None,
               member_id: int | None = None, reply_to: int | None = None,
               attachment: str | None = None, bot_id: int | None = None) -> asyncio.Future[Stored]:
        """Queue a message; ``creator`` (the sender's address) is charged if it creates the room."""
        if self._closed:
            raise WriterClosed()
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        # Rendered here, in the sender's task, not in the writer task: a costly message (up
        # to ~25 ms of Markdown) slows its own socket, never everyone's commits.
        self._enqueue(_Pending(room, user, body, client_id, epoch, future, creator, member_id,
                               reply_to, attachment, bot_id, render(body)))
        return future

    async def run(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation`` in the writer task, after everything submitted before it."""
        if self._closed:
            raise WriterClosed()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._enqueue(_Operation(operation, future))
        return await future

    def _enqueue(self, item: _Pending | _Operation) -> None:
        self._queue.append(item)
        self._idle.clear()
        self._wake.set()

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
                head = self._queue[0]
                if isinstance(head, _Operation):
                    del self._queue[0]
                    await self._operate(head)
                    continue
                end = 1
                while end < len(self._queue) and end < MAX_BATCH and isinstance(self._queue[end], _Pending):
                    end += 1
                batch = [p for p in self._queue[:end] if isinstance(p, _Pending)]
                del self._queue[:end]
                try:
                    await self._commit(batch)
                except Exception:  # the writer must outlive any one batch
                    log.exception("unexpected error while storing a batch")
                    for p in batch:
                        _fail(p, "not_stored", "internal error")
            self._idle.set()

    async def _operate(self, op: _Operation) -> None:
        try:
            result = await op.run()
        except Exception as exc:  # the caller gets it; the writer goes on
            if not op.future.done():
                op.future.set_exception(exc)
        else:
            if not op.future.done():
                op.future.set_result(result)

    async def _commit(self, batch: list[_Pending]) -> None:
        accepted: list[_Pending] = []
        for p in batch:
            why = self.rooms.refusal(p.room, p.epoch)
            if why is None:
                accepted.append(p)
            else:
                _fail(p, why)
        if self.room_limit is not None and accepted:
            accepted = await self._charge_new_rooms(accepted, self.room_limit)
        if any(p.reply_to is not None for p in accepted):
            accepted = await self._check_replies(accepted)
        if not accepted:
            return
        if await self.ceiling.check():
            for p in accepted:
                _fail(p, "storage_full")
            return
        ts = utc_now_iso()
        try:
            inserted = await self._storage.insert_messages([p.row(ts) for p in accepted])
        except RowRejected as exc:
            if len(accepted) == 1:
                log.warning("message not stored: %s", exc)
                _fail(accepted[0], "not_stored", str(exc))
                return
            # One bad row must not sink the others: retry them one by one.
            log.warning("batch of %d not stored (%s); retrying one by one", len(accepted), exc)
            await self._one_by_one(accepted)
            return
        except StorageError as exc:
            # The database itself refused (a lock held past the busy timeout, a full disk):
            # every row would fail the same way, so all senders hear it now.
            log.warning("batch of %d not stored: %s", len(accepted), exc)
            for p in accepted:
                _fail(p, "not_stored", str(exc))
            return
        await self._settle(accepted, inserted)

    async def _charge_new_rooms(self, batch: list[_Pending], limit: PerAddress) -> list[_Pending]:
        """The messages of ``batch`` that may be stored: a message that would create a room
        costs its creator a token, and is refused with ``room_limit`` when none is left."""
        unknown = {p.room for p in batch if p.creator is not None and not self.rooms.known(p.room)}
        if not unknown:
            return batch
        try:
            existing = await self._storage.existing_rooms(unknown)
        except StorageError as exc:
            log.warning("batch of %d not stored: %s", len(batch), exc)
            for p in batch:
                _fail(p, "not_stored", str(exc))
            return []
        self.rooms.remember(existing)
        created: set[str] = set()
        kept: list[_Pending] = []
        for p in batch:
            new = p.room in unknown and p.room not in existing and p.room not in created
            if new and p.creator is not None and not limit.allow(p.creator):
                _fail(p, "room_limit")
                continue
            if new:
                created.add(p.room)  # later messages of this batch to it create nothing
            kept.append(p)
        return kept

    async def _check_replies(self, batch: list[_Pending]) -> list[_Pending]:
        """The messages of ``batch`` whose ``reply_to`` is a message of their own room (one
        query a room, only for batches that hold replies); the others get reply_not_found."""
        wanted: dict[str, set[int]] = {}
        for p in batch:
            if p.reply_to is not None:
                wanted.setdefault(p.room, set()).add(p.reply_to)
        try:
            found = {room: await self._storage.ids_in_room(room, ids) for room, ids in wanted.items()}
        except StorageError as exc:
            for p in batch:
                _fail(p, "not_stored", str(exc))
            return []
        kept = []
        for p in batch:
            if p.reply_to is not None and p.reply_to not in found[p.room]:
                _fail(p, "reply_not_found")
            else:
                kept.append(p)
        return kept

    async def _one_by_one(self, batch: list[_Pending]) -> None:
        for i, p in enumerate(batch):
            try:
                inserted = await self._storage.insert_messages([p.row(utc_now_iso())])
            except RowRejected as exc:
                _fail(p, "not_stored", str(exc))
                continue
            except StorageError as exc:
                for rest in batch[i:]:
                    _fail(rest, "not_stored", str(exc))
                return
            await self._settle([p], inserted)

    async def _settle(self, batch: list[_Pending], inserted: list[Message]) -> None:
        """Publish what was stored, answer every sender, and give retries their original."""
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
        if self.room_limit is not None:
            self.rooms.remember({p.room for p, _ in done})
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
                originals.update(await self._storage.by_client_ids(missing))
        except StorageError as exc:
            for p, _ in retries:
                _fail(p, "not_stored", str(exc))
            return
        for p, key in retries:
            original = originals.get(key)
            if original is None:  # deleted since (by an operator): a new send stores it anew
                _fail(p, "not_stored", "the original message was deleted")
            elif not p.future.done():
                p.future.set_result(Stored(original, original.frame_text(), True))


def _fail(p: _Pending, code: str, detail: str = "") -> None:
    if not p.future.done():
        p.future.set_exception(NotStored(code, detail))
