"""The outgoing side of one WebSocket: its bounded queue, its writes and its close.

Everything sent to a socket goes through its :class:`SocketWriter` (live chat, the
``after=`` backfill, errors, presence, pongs, the close handshake), so the wire follows
one queue and nothing can follow a close frame. The :class:`~chatapp.flusher.Flusher`
flushes every queue with one ``transport.write`` per loop tick. A peer that does not keep up keeps its frames
in its own queue: past ``max_queue`` it is told it ``lagged`` and closed, and one that
takes nothing for ``stall_timeout`` is cut off, whatever it was being sent. Rooms are
:mod:`chatapp.hub`'s; the transport, its drain and aiohttp's socket state come in as
the three small interfaces of :mod:`chatapp.wire`, which the tests fake.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from typing import NamedTuple

from aiohttp import WSCloseCode

from .flusher import Flusher
from .models import dumps
from .wire import Drain, Run, SocketState, Transport, close_frame, pong_frame, silence_heartbeat, ws_frame

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 2.0  # seconds a peer has to answer our close frame
# Past this the peer is not keeping up: frames stay in our queue, where max_queue bounds
# them. It is set as the transport's pause threshold, so our check and its drain agree.
HIGH_WATER = 64 * 1024
STALL_TIMEOUT = 30.0  # a transport that has not drained for this long: the peer is gone

Item = tuple[int | None, bytes]  # (chat id, or None for any other frame; the framed bytes)

_ids = itertools.count(1)


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def _abort_if_stuck(transport: Transport) -> None:
    if transport.get_write_buffer_size() > 0:
        transport.abort()


class _CloseRequest(NamedTuple):
    code: int
    message: bytes
    timeout: float
    last_words: str | None = None  # a last text frame before the close frame


# The transport closed under us (the peer left, or aiohttp closed it): nothing to send.
_GONE = _CloseRequest(WSCloseCode.ABNORMAL_CLOSURE, b"", 0.0)


class SocketWriter:
    """One socket's outgoing frames: a bounded queue, one write per tick, one close.

    While the socket catches up (``after=``), live chat frames are not queued: they are
    stored already, and the backfill reads on until it has them (see :meth:`caught_up`);
    other frames (presence, errors) queue as usual, between the backfill's chunks.
    """

    __slots__ = (
        "_close", "_closer", "_diverted", "_done", "_done_waiter", "_drainer", "_flusher",
        "_live_head", "_max_queue", "_pending", "_queued", "_read_done", "_read_waiter", "_room_waiter",
        "_stall_timeout", "_stream", "_transport", "_ws", "id", "last_sent_id",
    )

    def __init__(self, transport: Transport, stream: Drain, ws: SocketState, flusher: Flusher,
                 max_queue: int, *, after: int | None = None, stall_timeout: float = STALL_TIMEOUT) -> None:
        self.id = next(_ids)
        self._transport = transport
        self._stream = stream
        self._ws = ws
        self._flusher = flusher
        self._max_queue = max_queue
        self._stall_timeout = stall_timeout
        transport.set_write_buffer_limits(high=HIGH_WATER)
        # None while empty (most of the time, for an idle socket): no list kept for nothing.
        self._pending: list[Item | Run] | None = None
        self._queued = 0  # frames in _pending (a Run counts each of its frames)
        self._diverted = after is not None  # catching up, or closing: enqueue() takes a detour
        self._live_head = 0  # the newest chat id published while catching up
        self.last_sent_id = after or 0  # the last chat id handed to the transport
        self._close: _CloseRequest | None = None
        self._closer: asyncio.Task[None] | None = None
        self._drainer: asyncio.Task[None] | None = None
        # Flags, and futures only while somebody waits: an Event carries a deque (~0.85 KiB
        # with its dict) and 10,000 idle sockets would each pay for several.
        self._room_waiter: asyncio.Future[None] | None = None
        self._read_done = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._done = False
        self._done_waiter: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<SocketWriter #{self.id} queued={self._queued}>"

    # ---- queueing: never waits ----------------------------------------------------------

    def send(self, frame: str | bytes, msg_id: int | None = None) -> None:
        self.enqueue((msg_id, frame if isinstance(frame, bytes) else ws_frame(frame)))

    def enqueue(self, item: Item | Run) -> None:
        """Queue an already framed item; a broadcast shares one among all members. A socket
        whose queue would hold more than ``max_queue`` frames is too slow: it is told so
        and disconnected."""
        if self._diverted and not self._still_queued(item):
            return
        frames = len(item.items) if isinstance(item, Run) else 1
        if self._queued + frames > self._max_queue:
            self._lag()
            return
        pending = self._pending
        if pending is None:
            pending = self._pending = []
            self._flusher.schedule(self)
        pending.append(item)
        self._queued += frames

    def pong(self, payload: bytes) -> None:
        """Answer a ping, in order with everything else (and never after our close)."""
        self.enqueue((None, pong_frame(payload)))

    def _still_queued(self, item: Item | Run) -> bool:
        if self._close is not None:
            return False
        msg_id = item[0]
        if msg_id is None:
            return True
        # Catching up: the message is stored, and the backfill reads on until it has it.
        if msg_id > self._live_head:
            self._live_head = msg_id
        return False

    # ---- flushing ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything queued with a single ``transport.write`` (the flusher calls this)."""
        transport = self._transport
        if transport.is_closing() or self._ws.closed:
            self._lost()
            return
        pending = self._pending
        if pending:
            if transport.get_write_buffer_size() > HIGH_WATER:
                self._start_drainer()
                return
            self._pending = None
            self._queued = 0
            frames: list[bytes] = []
            last = self.last_sent_id
            for item in pending:
                msg_id = item[0]
                if msg_id is not None:
                    # Chat ids rise in publishing order, so one that does not is a copy:
                    # a live frame of a message the backfill had read too.
                    if msg_id <= last:
                        continue
                    if isinstance(item, Run) and item.items[0][0] <= last:
                        # A run the backfill had read in part: only its newer frames.
                        frames.extend(frame for i, frame in item.items if i > last)
                        last = msg_id
                        continue
                    last = msg_id
                frames.append(item[1])
            self.last_sent_id = last
            if frames:
                transport.write(b"".join(frames))
        _resolve(self._room_waiter)
        if self._close is not None:
            self._start_closer()

    def _start_drainer(self) -> None:
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name=f"chatapp-drain-{self.id}")

    async def _drain(self) -> None:
        """Wait until the transport has room, then flush. A peer that takes nothing for
        ``stall_timeout`` is not reading at all: it is dropped, whatever it was being sent."""
        drained = asyncio.ensure_future(self._stream.drain())
        try:
            await asyncio.wait([drained], timeout=self._stall_timeout)  # wait() never cancels it
            if not drained.done():
                log.warning("socket #%d took nothing for %.1f s; dropping it", self.id, self._stall_timeout)
                drained.add_done_callback(_retrieve)
                self.abort()
                return
            drained.result()
        except (ConnectionError, RuntimeError):
            pass  # the peer is gone: flush() finds the transport closed
        finally:
            self._drainer = None
        self.flush()

    # ---- the backfill -----------------------------------------------------------------------

    @property
    def live_head(self) -> int:
        """The newest chat id published to this socket while it was catching up."""
        return self._live_head

    async def backfill(self, items: Sequence[Item]) -> bool:
        """Queue stored messages a chunk at a time, each once the socket has taken the one
        before: a slow reader slows its own catch-up, and never overflows its queue.
        False once the socket is closing."""
        start, n = 0, len(items)
        # At most half the queue is backfill, so live frames have room once it is over.
        chunk_items = max(1, self._max_queue // 4)
        while start < n:
            if not await self._wait_writable():
                return False
            end, size = start, 0
            while end < n and size < HIGH_WATER and end - start < chunk_items:
                size += len(items[end][1])
                end += 1
            if self._pending is None:
                self._pending = []
                self._flusher.schedule(self)
            self._pending.extend(items[start:end])
            self._queued += end - start
            start = end
        return True

    def caught_up(self, covered: int) -> bool:
        """The backfill has queued every stored message up to ``covered``: live chat is
        queued from now on (a live copy of what the backfill sent is skipped when flushed).
        False when a newer message was published meanwhile: the backfill reads again first."""
        if self._live_head > covered:
            return False
        self._diverted = self._close is not None
        return True

    async def _wait_writable(self) -> bool:
        while self._close is None:
            if (self._transport.get_write_buffer_size() <= HIGH_WATER
                    and self._queued <= self._max_queue // 4):
                return True
            if not self._pending:
                self._start_drainer()  # nothing queued: wait for the transport itself
            # else a flush is scheduled or the drainer runs; either ends in flush().
            waiter = self._room_waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._room_waiter = None
        return False

    # ---- closing ----------------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        """A close was asked for (or the socket is gone): what the peer still sends is ignored."""
        return self._close is not None

    @property
    def closed(self) -> bool:
        """The close is finished: the handshake ended, or the transport was given up."""
        return self._done

    def close(self, code: int, message: bytes, timeout: float = CLOSE_TIMEOUT) -> None:
        """Send what is queued, then a close frame with ``code``."""
        if self._close is None:
            self._request_close(_CloseRequest(code, message, timeout))

    def abort(self) -> None:
        """Drop the connection at once (a reset), for a peer that is not reading at all."""
        self._transport.abort()
        self._lost()

    def reading_stopped(self) -> None:
        """The handler's receive loop ended: the peer answered our close, closed first,
        or vanished. What is still queued would go unread, so it is dropped."""
        self._read_done = True
        _resolve(self._read_waiter)
        self._clear()
        if self._close is None:
            self._request_close(_CloseRequest(WSCloseCode.OK, b"", CLOSE_TIMEOUT))
        else:
            self._start_closer()

    async def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the close is finished (queued frames flushed first); whether it is."""
        if not self._done:
            if self._done_waiter is None:
                self._done_waiter = asyncio.get_running_loop().create_future()
            await asyncio.wait([self._done_waiter], timeout=timeout)  # wait() never cancels it
        return self._done

    def _lag(self) -> None:
        """Drop the queue and close with 1008 at once, behind whatever the transport holds."""
        log.warning("socket #%d lagged %d frames behind; closing it", self.id, self._queued)
        self._clear()
        self._request_close(_CloseRequest(
            WSCloseCode.POLICY_VIOLATION, b"lagged", CLOSE_TIMEOUT,
            last_words=dumps({"type": "lagged", "resume_after": self.last_sent_id})))

    def _clear(self) -> None:
        self._pending = None
        self._queued = 0

    def _request_close(self, request: _CloseRequest) -> None:
        self._close = request
        self._diverted = True
        _resolve(self._room_waiter)
        if not self._pending or self._transport.is_closing() or self._ws.closed:
            self._start_closer()
        # else a flush is scheduled or the drainer runs; flush() starts the closer.

    def _lost(self) -> None:
        """Nothing can be written any more: the transport is closing or aiohttp closed it."""
        self._clear()
        if self._close is None:
            self._close = _GONE
        self._diverted = True
        self._start_closer()

    def _start_closer(self) -> None:
        if self._closer is not None or self._done:
            return
        self._clear()  # empty already, unless the transport is gone
        if self._transport.is_closing() or self._ws.closed:
            self._finish()  # no close frame can be sent: nothing to wait for
            return
        assert self._close is not None
        self._closer = asyncio.create_task(self._close_ws(self._close), name=f"chatapp-close-{self.id}")

    async def _close_ws(self, request: _CloseRequest) -> None:
        """Send a close frame, then let the handler read until the peer's answer.

        Not ``ws.close()``: called from another task while the handler waits in
        ``receive()``, aiohttp closes the transport without reading the peer's reply; a
        peer still sending then gets a TCP reset, which makes its kernel discard what it
        had not read yet (the last messages, the close frame). So the frame goes out
        here, the handler reads (and discards) until the peer's close, and then the
        connection is closed; a peer that does not answer in time is closed anyway, or
        aborted if it is not even reading.

        Nothing follows a close frame (RFC 6455 §5.5.1): aiohttp's own heartbeat, the one
        writer that bypasses this one, is silenced first (see ``wire.silence_heartbeat``).
        At shutdown our side is also shut right after the frame (FIN once the buffer is
        flushed): aiohttp then drops the peer's reply unread, and browsers would wait two
        seconds for the server to end the connection. Not for other closes: aiohttp's own
        client treats a FIN that arrives with the close frame as an abnormal closure (1006)
        and never reports our code; when the peer replies, the connection is closed anyway.
        """
        transport = self._transport
        try:
            if transport.is_closing() or self._ws.closed:
                return  # gone since the close was asked for: nothing may be written
            frame = close_frame(request.code, request.message)
            if request.last_words is not None:
                frame = ws_frame(request.last_words) + frame
            silence_heartbeat(self._ws)
            transport.write(frame)
            if request.code == WSCloseCode.GOING_AWAY and transport.can_write_eof():
                transport.write_eof()
            if not self._read_done:
                self._read_waiter = asyncio.get_running_loop().create_future()
                await asyncio.wait([self._read_waiter], timeout=request.timeout)
            if self._read_done or transport.get_write_buffer_size() == 0:
                transport.close()  # answered (or nothing unread to reset): FIN
            else:
                transport.abort()  # not even reading
        finally:
            self._finish()

    def _finish(self) -> None:
        self._done = True
        self._diverted = True
        self._clear()
        transport = self._transport
        if transport.get_write_buffer_size() > 0:
            # Closing, but the peer has not taken what is buffered, and a transport that
            # is closing waits for its buffer: give it a grace period, then a reset.
            asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, _abort_if_stuck, transport)
        _resolve(self._room_waiter)
        _resolve(self._done_waiter)
