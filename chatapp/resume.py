"""First pages of resuming sockets, read once and shared while the room's log stands still.

After a restart every page of a room comes back with the same ``after=`` (the newest id
they all had), and each would read the same first page of the log (``log_after``): in the
bench's reconnect storm 86 % of those reads were identical. A page read for a socket is
kept, keyed by room and ``after``, and used by the next socket of that room with the same
``after``, as long as nothing has been published to the room since the read began.

Why that is exact (the same reasoning as :func:`chatapp.ws._backfill`'s): everything
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
from typing import Generic, TypeVar

PAGES = 1024  # pages kept, all rooms together
MAX_AGE = 1.0  # seconds a kept page is used for

P = TypeVar("P")


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
