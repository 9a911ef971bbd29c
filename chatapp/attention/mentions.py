"""Mentions: finding them in a message once, and storing a batch's in one write.

**Syntax** (what people type; the renderer highlights it, :data:`chatapp.formatting.MENTION`):
``@name`` with letters, digits and ``_ - . '``, or any name in double quotes, ``@"Mary Ann"``.
Names are compared folded, as names are (case, compatibility forms, confusables:
:func:`chatapp.accounts.names.fold`), and an ``_`` may stand for a space, so ``@mary_ann``
reaches "Mary Ann" (and "mary_ann", if that is someone's name, first). ``@here`` reaches
every member with a socket open on the room, except the sender.

**Cost**: a message without ``@`` costs one ``in`` test. One with ``@`` costs a look at its
rendering (memoised, and made for the chat frame anyway) and a set lookup per name against
the members' names already in memory (:class:`~chatapp.accounts.names.MemberNames`); at
most :data:`MAX_NAMES` names of a message count. Who the names belong to, whether they
may see the room, and storing it all, is one statement for the whole batch
(:meth:`chatapp.storage.Storage.record_mentions`), run by :class:`MentionRecorder` off the
writer's path; the activity frames and notifications for mentions follow it.

**@here** is for members only (a guest could change names to dodge any limit) and limited per
sender: one every ``CHATAPP_HERE_INTERVAL`` seconds (default 60) reaches anyone; a sooner
one is still sent, highlighted as ever, but mentions nobody.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from ..accounts.names import MemberNames, fold
from ..formatting import mention_names
from ..storage import Storage, StorageError
from ..storage.records import MentionWanted
from ..writer import Stored

log = logging.getLogger(__name__)

MAX_NAMES = 20  # distinct names one message may mention; the rest are only highlighted
HERE = "here"


def named_members(body: str, names: MemberNames) -> tuple[list[str], bool]:
    """The folded names of members ``body`` mentions (at most :data:`MAX_NAMES`), and
    whether it says ``@here``."""
    keys: list[str] = []
    here = False
    for raw in mention_names(body):
        if raw == HERE:  # @"here" is a member named "here", if there is one
            here = True
            continue
        for name in (raw, raw.replace("_", " ")) if "_" in raw else (raw,):
            if names.taken(name):
                key = fold(name)
                if key not in keys:
                    keys.append(key)
                break
        if len(keys) >= MAX_NAMES:
            break
    return keys, here and "@here" in body


class HereLimit:
    """At most one @here that reaches anyone per member every ``interval`` seconds."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[int, float] = {}

    def allow(self, member_id: int) -> bool:
        if self.interval <= 0:
            return True
        now = self._clock()
        if now - self._last.get(member_id, -self.interval) < self.interval:
            return False
        if len(self._last) > 10_000:  # forget those whose wait is over
            self._last = {m: t for m, t in self._last.items() if now - t < self.interval}
        self._last[member_id] = now
        return True


class Mentioning(NamedTuple):
    """A stored message that names members, or said @here, waiting to be recorded."""

    stored: Stored
    visibility: str
    keys: list[str]
    here: frozenset[int]  # members @here reached


# (the message waiting, the member ids recorded as mentioned in it)
Recorded = Callable[[Mentioning, set[int]], None]


class MentionRecorder:
    """Records mentions a batch at a time, then hands each message's mentioned members on.

    :meth:`add` only queues (it is called in the writer's publish path); one task writes
    whatever queued meanwhile with one statement, so batches that arrive during a write are
    recorded together by the next one.
    """

    def __init__(self, store: Storage, recorded: Recorded) -> None:
        self._store = store
        self._recorded = recorded
        self._queue: list[Mentioning] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.writes = 0  # statements run, for tests and the benchmark

    def add(self, waiting: Sequence[Mentioning]) -> None:
        self._queue.extend(waiting)
        self._idle.clear()
        self._wake.set()

    async def drain(self) -> None:
        """Until everything queued so far is recorded and handed on."""
        await self._idle.wait()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                await self._record(batch)
            self._idle.set()

    async def _record(self, batch: list[Mentioning]) -> None:
        wanted: list[MentionWanted] = []
        for w in batch:
            m = w.stored.message
            wanted += [MentionWanted(m.id, m.room, key, None, m.member_id) for key in w.keys]
            wanted += [MentionWanted(m.id, m.room, None, member_id, m.member_id) for member_id in sorted(w.here)]
        try:
            self.writes += 1
            rows = await self._store.record_mentions(wanted)
        except StorageError as exc:
            # The messages are stored and shown, highlighted; only the counting is lost.
            log.warning("could not record the mentions of %d messages: %s", len(batch), exc)
            return
        mentioned: dict[int, set[int]] = {}
        for member_id, _, message_id in rows:
            mentioned.setdefault(message_id, set()).add(member_id)
        for w in batch:
            try:
                self._recorded(w, mentioned.get(w.stored.message.id, set()))
            except Exception:  # one message's trouble must not stop the others'
                log.exception("handing on the mentions of message %d failed", w.stored.message.id)
