"""The room list as pages: what ``/`` and ``/admin`` read from a request (``q``, the
search box, and ``after``, the cursor of a "more rooms" link) and ask storage for.

Neither page ever reads every room: a page is :data:`PAGE_SIZE` rooms found through an
index, however many rooms a flood has made. Which rooms come first and what a cursor
holds is storage's business (:meth:`chatapp.storage.Storage.room_page`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web

from . import protocol
from .storage import BadCursor

T = TypeVar("T")

PAGE_SIZE = 50
_FRAGMENT = re.compile(r"^[a-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class RoomQuery:
    """What a room list page was asked for."""

    q: str  # the search box as typed (trimmed); empty: the whole list, latest activity first
    needle: str | None  # the room name fragment searched for; None when no room can match q
    after: str | None  # where this page starts: the cursor of the previous page's last room

    @property
    def first_page(self) -> bool:
        return self.after is None


def room_query(request: web.Request) -> RoomQuery:
    q = request.query.get("q", "").strip()
    after = request.query.get("after") or None
    if after is not None and len(after) > 200:
        raise web.HTTPBadRequest(text="after must be a cursor from a \"more rooms\" link")
    # "#lobby" and "Lobby" find lobby: names are shown with a "#", and are case-insensitive.
    fragment = q.removeprefix("#").lower()[: protocol.MAX_ROOM + 1]
    return RoomQuery(q[:200], fragment if _FRAGMENT.match(fragment) else None, after)


async def fetch_page(rq: RoomQuery,
                     read: Callable[[str, str | None], Awaitable[tuple[list[T], str | None]]]
                     ) -> tuple[list[T], str | None]:
    """One page for ``rq`` from ``read(needle, after)``; a cursor we did not make is a 400."""
    if rq.q and rq.needle is None:
        return [], None
    try:
        return await read(rq.needle or "", rq.after)
    except BadCursor:
        raise web.HTTPBadRequest(text="after must be a cursor from a \"more rooms\" link") from None


def page_query(rq: RoomQuery, after: str | None) -> dict[str, str]:
    """The query string of a link to another page of the same list."""
    query = {"q": rq.q} if rq.q else {}
    if after is not None:
        query["after"] = after
    return query
