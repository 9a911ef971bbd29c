"""One flush pass per event-loop tick, over every socket with something queued.

A writer batch published to a room queues frames on many sockets at once; each socket's
:class:`~chatapp.connection.SocketWriter` asks to be flushed here, and one callback at the
end of the tick flushes them all, one ``transport.write`` each.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .connection import SocketWriter


class Flusher:
    """Flushes every socket with something queued, once per event-loop tick: a writer
    batch of 100 messages to 2,000 sockets costs 2,000 writes, not 200,000."""

    __slots__ = ("_dirty", "_scheduled")

    def __init__(self) -> None:
        self._dirty: list[SocketWriter] = []
        self._scheduled = False

    def schedule(self, writer: SocketWriter) -> None:
        self._dirty.append(writer)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for writer in dirty:
            writer.flush()
