"""A fake transport, drain and socket for :class:`chatapp.connection.SocketWriter`, and
:class:`Peer`, a writer wired to them: the test decides how much the transport holds and
when it drains, and reads back the frames written."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from chatapp.connection import HIGH_WATER, SocketWriter
from chatapp.flusher import Flusher

from .rawws import CLOSE, TEXT, split_frames


class FakeTransport:
    """Records writes; the test decides how much the transport still holds."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.buffered = 0
        self.closing = False
        self.eof = False
        self.aborted = False
        self.ended = asyncio.Event()  # closed or aborted
        self.limits: tuple[int | None, int | None] = (None, None)

    def write(self, data: bytes) -> None:
        if self.eof:
            raise RuntimeError("Cannot call write() after write_eof()")  # as asyncio and uvloop do
        assert not self.closing, "written to a closing transport"
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.limits = (high, low)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def close(self) -> None:
        self.closing = True
        self.ended.set()

    def abort(self) -> None:
        self.closing = self.aborted = True
        self.buffered = 0
        self.ended.set()

    # ---- what the peer got ----

    @property
    def frames(self) -> list[tuple[int, bytes]]:
        data = b"".join(self.writes)
        frames, used = split_frames(data)
        assert used == len(data), "a partial frame was written"
        return frames

    @property
    def texts(self) -> list[dict[str, Any]]:
        return [json.loads(p) for op, p in self.frames if op == TEXT]

    @property
    def chat_ids(self) -> list[int]:
        return [f["id"] for f in self.texts if f.get("type") == "chat"]

    def close_codes(self) -> list[int]:
        return [int.from_bytes(p[:2], "big") for op, p in self.frames if op == CLOSE]


class FakeStream:
    """aiohttp's drain: returns at once, unless the test holds the transport full."""

    def __init__(self) -> None:
        self.held = False
        self._waiter: asyncio.Future[None] | None = None

    async def drain(self) -> None:
        if self.held:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    def release(self, transport: FakeTransport) -> None:
        self.held = False
        transport.buffered = 0
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class FakeSocket:
    closed = False


class Peer:
    """A socket writer with its fakes."""

    def __init__(self, max_queue: int = 10, after: int | None = None, stall_timeout: float = 5.0) -> None:
        self.transport = FakeTransport()
        self.stream = FakeStream()
        self.ws = FakeSocket()
        self.out = SocketWriter(self.transport, self.stream, self.ws, Flusher(), max_queue,
                                after=after, stall_timeout=stall_timeout)

    def stall(self) -> None:
        """The peer stops reading: the transport holds more than the high-water mark."""
        self.transport.buffered = HIGH_WATER + 1
        self.stream.held = True

    def resume(self) -> None:
        self.stream.release(self.transport)
