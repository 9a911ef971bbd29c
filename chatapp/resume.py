"""A socket that resumes with ``after=``: its catch-up (:func:`backfill`), and the first
pages of resuming sockets, read once and shared while the room's log stands still.

After a restart every page of a room comes back with the same ``after=`` (the newest id
they all had), and each would read the same first page of the log (``log_after``): in the
bench's reconnect storm 86 % of those reads were identical. A page read for a socket is
kept, framed, keyed by room and ``after``, and used by the next socket of that room with
the same ``after``, as long as nothing has been published to the room since the read began:
neither the read nor the encoding of its rows is done again.

Why that is exact (the same reasoning as :func:`backfill`'s): everything
published before a read began was committed before, so the read has it; a kept page is
dropped the moment anything is published to its room (:meth:`ResumePages.changed`, called
by the hub for every message and change it hands out), and a page whose read overlapped a
publish anywhere is not kept at all. A socket asks only after it joined the room, so what
is published later reaches it live, or makes its backfill read on, as without the page.

Bounded: :data:`PAGES` pages at most, each used for :data:`MAX_AGE` seconds at most (rows can
also change without a publish: retention, ``chatapp import``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Generic, TypeVar

from .models import Message, RoomEvent, dumps
from .wire import ws_frame

if TYPE_CHECKING:
    from .hub import Client
    from .storage import Storage

BACKFILL_PAGE = 500  # messages and changes read at a time
RESET_PAGE = 50  # what a reset client gets instead: the newest page, as the room page shows
PAGES = 1024  # pages kept, all rooms together
MAX_AGE = 1.0  # seconds a kept page is used for

P = TypeVar("P")
Page = tuple[list[tuple[int, bytes]], bool]  # the log after an id, framed; whether more follows


class ResumePages(Generic[P]):
    __slots__ = ("_pages", "_size", "_version")

    def __init__(self) -> None:
        self._pages: dict[str, dict[int, tuple[float, P]]] = {}  # room -> after -> (read at, page)
        self._size = 0
        self._version = 0  # one more for every publish, in any room

    def changed(self, room: str) -> None:
        """Something was published to ``room``: its kept pages are out of date."""
        self._version += 1
        pages = self._pages.pop(room, None)
        if pages:
            self._size -= len(pages)

    def begin(self) -> int:
        """Before a read: what :meth:`keep` needs to tell whether a publish overlapped it."""
        return self._version

    def get(self, room: str, after: int) -> P | None:
        kept = self._pages.get(room, {}).get(after)
        if kept is None or time.monotonic() - kept[0] > MAX_AGE:
            return None
        return kept[1]

    def keep(self, room: str, after: int, begun: int, page: P) -> None:
        """Keep ``page``, read for ``room`` and ``after`` since :meth:`begin` gave ``begun``,
        unless something was published meanwhile."""
        if begun != self._version:
            return
        if self._size >= PAGES:
            self._pages.clear()
            self._size = 0
        pages = self._pages.setdefault(room, {})
        self._size += after not in pages
        pages[after] = (time.monotonic(), page)


async def backfill(store: Storage, pages: ResumePages[Page], client: Client, after: int,
                   max_backfill: int | None) -> None:
    """Send every stored message after ``after`` through the socket's queue, a page at a
    time, at the pace the socket takes them.

    A client that asked for at most ``max_backfill`` and is further behind than that gets
    a ``reset`` frame and the room's newest page instead: a page would rather load older
    history on demand than replay thousands of messages (docs/protocol.md). It is opt-in
    because a client that ignored the unknown frame would silently miss the rest.

    The client joined the hub before the first read, so anything published since is
    either read here or queued live once the backfill is over: while it runs, the writer
    only notes the newest live chat id (:attr:`SocketWriter.live_head`), and the backfill
    reads on until it has covered it (whatever was published before a read began is
    covered by that read). A live frame of a message the last read had too is skipped
    by the writer, as chat ids only rise: no gap, no duplicate.
    """
    out = client.out
    last = after
    head = out.live_head
    # The first page before anything else: a client a few messages behind (every page
    # after a restart) needs no other query. Messages and changes are both rows of it, so
    # a page not full and no longer than max_backfill holds no more messages than that.
    # After a restart a room's pages all come back with the same ``after``: one read serves
    # them while nothing is published to the room (see the module's docstring).
    page = pages.get(client.room, after)
    if page is None:
        begun = pages.begin()
        page = _framed(await store.log_after(client.room, after, BACKFILL_PAGE))
        pages.keep(client.room, after, begun, page)
    if (max_backfill is not None and (page[1] or len(page[0]) > max_backfill)
            and await store.count_after(client.room, after, max_backfill + 1) > max_backfill):
        newest = await store.recent(client.room, RESET_PAGE)
        if newest and newest[0].id > after:  # else the room was cleared meanwhile: nothing to skip
            first = newest[0].id
            out.send(dumps({"type": "reset", "room": client.room,
                            "skipped_after": after, "skipped_before": first}))
            last = first - 1  # the loop below sends the newest page, then goes on as usual
            head = out.live_head
            page = _framed(await store.log_after(client.room, last, BACKFILL_PAGE))
    while True:
        # Messages and changes to them (edits, deletes, reactions, clears), in one id order.
        logged, more = page
        if logged:
            last = logged[-1][0]
            if not await out.backfill(logged):
                return  # closing
        if not more and out.caught_up(max(last, head)):
            return
        head = out.live_head
        page = _framed(await store.log_after(client.room, last, BACKFILL_PAGE))


def _framed(page: tuple[list[Message | RoomEvent], bool]) -> Page:
    logged, more = page
    return [(x.id, ws_frame(x.frame_text())) for x in logged], more
