"""The room hub: who is connected to which room, and getting frames to them.

A broadcast serialises a frame once, frames it once as WebSocket bytes, and appends the
same bytes to every member's bounded queue without awaiting anyone. Once per event-loop
tick the hub flushes every socket that has something queued with one ``transport.write``
of all its frames: one system call per socket per tick, however large the writer's batch.
A socket that stops draining keeps its frames in its queue; when the queue is full the
client is told it ``lagged`` and closed with 1008, instead of slowing the room or
growing memory without bound.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import NamedTuple

from aiohttp import WSCloseCode, web

from .models import dumps
from .writer import Stored

log = logging.getLogger(__name__)

PRESENCE_DELAY = 0.2  # seconds: joins and leaves in a burst cost one presence frame
PRESENCE_NAMES = 200  # names listed in a presence frame; ``count`` is always exact
CLOSE_TIMEOUT = 2.0
# Past this many bytes waiting in a transport the peer is not keeping up; frames then
# stay in the client's own queue (bounded by send_queue) until the transport drains.
HIGH_WATER = 64 * 1024


def ws_frame(text: str) -> bytes:
    """A complete server-to-client text frame. Servers never mask, so the bytes are the
    same for every member of a room: a broadcast builds them once."""
    data = text.encode()
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + data
    return b"\x81\x7f" + n.to_bytes(8, "big") + data


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _CloseRequest(NamedTuple):
    code: int
    message: bytes
    timeout: float
    await_reply: bool = True
    last_words: str | None = None  # a last text frame before the close frame


class Client:
    """One socket: its bounded queue of outgoing frames, flushed in one write per loop tick."""

    _ids = itertools.count(1)

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, room: str, user: str,
                 addr: str, max_queue: int) -> None:
        self.id = next(self._ids)
        self.ws = ws
        self.room = room
        self.user = user
        self.addr = addr
        self._transport = request.transport
        self._writer = request.writer
        self._pending: list[tuple[int | None, bytes]] = []
        self._max_queue = max_queue
        self._started = False
        self._drainer: asyncio.Task[None] | None = None
        self._close: _CloseRequest | None = None
        self._task: asyncio.Task[None] | None = None  # only while closing
        # Futures, not Events: an Event carries a deque (~0.85 KiB with its dict) and every
        # held socket paid for two; a future is ~150 bytes and each is set at most once.
        loop = asyncio.get_running_loop()
        self._closed: asyncio.Future[None] = loop.create_future()  # the close handshake ended
        self._read_done: asyncio.Future[None] = loop.create_future()
        self.on_pending: Callable[[Client], None] | None = None  # the hub's flush scheduler
        self.skip_upto = 0  # chat frames up to this id were already sent as backfill
        self.last_sent_id = 0

    def __repr__(self) -> str:
        return f"<Client #{self.id} {self.room}/{self.user} from {self.addr}>"

    def start(self) -> None:
        """Live frames from now on; what queued during the backfill goes out first."""
        self._started = True
        self.flush()

    def send(self, frame: str | bytes, msg_id: int | None = None) -> None:
        """Queue a frame for this tick's flush; never waits. A client too far behind is cut loose."""
        self.enqueue((msg_id, frame if isinstance(frame, bytes) else ws_frame(frame)))

    def enqueue(self, item: tuple[int | None, bytes]) -> None:
        """Queue an already framed item; a broadcast shares one tuple among all members."""
        if self._close is not None:
            return
        if len(self._pending) >= self._max_queue:
            self._lag()
            return
        if not self._pending and self._started and self.on_pending is not None:
            self.on_pending(self)
        self._pending.append(item)

    def flush(self) -> None:
        """Write everything pending for this socket with a single ``transport.write``."""
        if not self._started:
            return
        transport = self._transport
        if self._pending and transport is not None and not transport.is_closing():
            if transport.get_write_buffer_size() > HIGH_WATER:
                # The peer is not keeping up: frames wait here, where send_queue bounds them.
                if self._drainer is None:
                    self._drainer = asyncio.create_task(self._drain(), name=f"chatapp-drain-{self.id}")
                return
            pending, self._pending = self._pending, []
            frames = []
            skip = self.skip_upto
            for msg_id, frame in pending:
                if msg_id is not None:
                    if msg_id <= skip:
                        continue
                    self.last_sent_id = msg_id
                frames.append(frame)
            if frames:
                transport.write(b"".join(frames))
        if self._close is not None and self._task is None and not self._pending:
            self._task = asyncio.create_task(self._close_ws(self._close), name=f"chatapp-close-{self.id}")

    async def _drain(self) -> None:
        try:
            await self._writer.drain()
        except (ConnectionError, RuntimeError):
            _resolve(self._closed)  # the peer is gone: nothing left to flush or close
            return
        finally:
            self._drainer = None
        self.flush()

    def close(self, code: int, message: bytes, timeout: float = CLOSE_TIMEOUT,
              await_reply: bool = True) -> None:
        """Send what is queued, then close with ``code``."""
        if self._close is None:
            self._close = _CloseRequest(code, message, timeout, await_reply)
            self._started = True
            self.flush()

    async def wait_closed(self, timeout: float | None = None) -> None:
        """After close(): wait until the socket is closed, queued frames flushed first.

        Waits on a future rather than the closing task: a socket still draining its queue
        has no closing task yet, and returning early would let the server drop it mid-flush.
        """
        await asyncio.wait([self._closed], timeout=timeout)  # wait() never cancels it

    async def stop(self) -> None:
        if self._task is None or self._task.done():
            return
        await asyncio.wait([self._task], timeout=CLOSE_TIMEOUT + 1)
        self._task.cancel()
        await asyncio.wait([self._task])

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _lag(self) -> None:
        """Drop the queue and close with 1008 at once, past whatever the transport holds."""
        log.warning("%r lagged %d frames behind; closing it", self, len(self._pending))
        self._pending.clear()
        self._close = _CloseRequest(
            WSCloseCode.POLICY_VIOLATION, b"lagged", CLOSE_TIMEOUT,
            last_words=dumps({"type": "lagged", "resume_after": self.last_sent_id}))
        self._task = asyncio.create_task(self._close_ws(self._close), name=f"chatapp-lagged-{self.id}")

    @property
    def closing(self) -> bool:
        """The server asked this socket to close; what the peer still sends is ignored."""
        return self._close is not None

    def reading_stopped(self) -> None:
        """The handler's receive loop ended: the peer answered our close, or vanished."""
        _resolve(self._read_done)

    async def _close_ws(self, request: _CloseRequest) -> None:
        """Send a close frame, then let the handler read until the peer's answer.

        Not ``ws.close()``: called from another task while the handler waits in
        ``receive()``, aiohttp closes the transport at once without reading the peer's
        reply; a peer still sending then gets a TCP reset, and a reset makes its kernel
        discard what it had not read yet — the last messages and the close frame. So the
        frame goes out here, the handler keeps reading (and discarding) until the peer's
        close arrives, and then the connection is closed. A peer that does not answer
        within the timeout is closed anyway, or aborted if it is not even reading.

        At shutdown (``await_reply`` false) aiohttp already drops everything peers send,
        so their reply can never be seen, and browsers wait two seconds for the server to
        end the connection after replying. So our side is shut right after the frame
        (FIN once the buffer is flushed) while reading goes on: the peer replies and
        closes at once, and whatever it was still sending is read, not answered with a
        reset that would make its kernel discard our last frames.
        """
        transport = self._transport
        try:
            if transport is None or transport.is_closing():
                return
            if request.last_words is not None:
                transport.write(ws_frame(request.last_words))
            payload = request.code.to_bytes(2, "big") + request.message[:123]
            transport.write(bytes((0x88, len(payload))) + payload)
            if not request.await_reply and transport.can_write_eof():
                transport.write_eof()
            await asyncio.wait([self._read_done], timeout=request.timeout)
            if not self._read_done.done():
                raise TimeoutError
            transport.close()  # the peer answered (or left): FIN, nothing unread to reset
        except TimeoutError:
            if transport is not None and transport.get_write_buffer_size() == 0:
                transport.close()
            else:
                self.abort()
        finally:
            _resolve(self._closed)


class Hub:
    def __init__(self) -> None:
        self.rooms: dict[str, set[Client]] = {}
        self.locked: set[str] = set()
        self.per_addr: collections.Counter[str] = collections.Counter()
        self.total = 0
        self._names: dict[str, collections.Counter[str]] = {}  # room -> name -> sockets
        self._presence_frames: dict[str, bytes] = {}
        self._presence_pending: dict[str, asyncio.TimerHandle] = {}
        self._dirty: list[Client] = []
        self._flush_scheduled = False

    def join(self, client: Client) -> None:
        room = client.room
        self.rooms.setdefault(room, set()).add(client)
        self.per_addr[client.addr] += 1
        self.total += 1
        client.on_pending = self._schedule_flush
        names = self._names.setdefault(room, collections.Counter())
        names[client.user] += 1
        if names[client.user] == 1:
            # A new name: everyone, the newcomer included, gets the new list shortly.
            self._presence_changed(room)
        else:
            # A second tab: nothing changed for the room, the newcomer gets the list now.
            client.send(self._presence_frame(room))

    def leave(self, client: Client) -> None:
        room = client.room
        members = self.rooms.get(room)
        if members is None or client not in members:
            return
        members.discard(client)
        self.per_addr[client.addr] -= 1
        if self.per_addr[client.addr] <= 0:
            del self.per_addr[client.addr]
        self.total -= 1
        names = self._names[room]
        names[client.user] -= 1
        if names[client.user] <= 0:
            del names[client.user]
            self._presence_changed(room)
        if not members:
            del self.rooms[room]
            del self._names[room]
            self._presence_frames.pop(room, None)

    def connections(self, room: str) -> int:
        return len(self.rooms.get(room, ()))

    def presence(self, room: str) -> dict[str, object]:
        """Who is here: distinct names (two tabs count once), at most PRESENCE_NAMES listed."""
        names = sorted(self._names.get(room, ()), key=str.casefold)
        return {"type": "presence", "room": room, "users": names[:PRESENCE_NAMES], "count": len(names)}

    def _presence_frame(self, room: str) -> bytes:
        frame = self._presence_frames.get(room)
        if frame is None:
            frame = self._presence_frames[room] = ws_frame(dumps(self.presence(room)))
        return frame

    def _presence_changed(self, room: str) -> None:
        # Building the list is O(room size), so joins and leaves in a burst share one frame:
        # connecting 10,000 sockets stays linear instead of quadratic.
        self._presence_frames.pop(room, None)
        if room in self._presence_pending:
            return
        loop = asyncio.get_running_loop()
        self._presence_pending[room] = loop.call_later(PRESENCE_DELAY, self._send_presence, room)

    def _send_presence(self, room: str) -> None:
        self._presence_pending.pop(room, None)
        if room in self.rooms:
            self.broadcast(room, self._presence_frame(room))

    def _schedule_flush(self, client: Client) -> None:
        self._dirty.append(client)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for client in dirty:
            client.flush()

    def broadcast(self, room: str, frame: str | bytes, msg_id: int | None = None,
                  exclude: Client | None = None) -> None:
        members = self.rooms.get(room)
        if not members:
            return
        data = frame if isinstance(frame, bytes) else ws_frame(frame)
        # One tuple for the whole room: a writer batch of 100 messages to 2,000 sockets
        # otherwise made 200,000 tuples (~11 MiB) that lived until the next flush.
        item = (msg_id, data)
        # enqueue() never awaits and never leaves the room, so the set cannot change under us.
        for client in members:
            if client is not exclude:
                client.enqueue(item)

    def publish(self, stored: Sequence[Stored]) -> None:
        """The writer's callback: committed messages, in id order, to their rooms."""
        for s in stored:
            self.broadcast(s.message.room, s.text, s.message.id)

    def close_room(self, room: str, code: int, reason: bytes) -> None:
        for client in tuple(self.rooms.get(room, ())):
            client.close(code, reason)

    async def close_all(self, timeout: float) -> None:
        """Flush every queue, close every socket with 1001, abort what does not finish."""
        clients = [c for members in self.rooms.values() for c in members]
        for handle in self._presence_pending.values():
            handle.cancel()
        self._presence_pending.clear()
        for c in clients:
            c.close(WSCloseCode.GOING_AWAY, b"server shutting down", timeout=timeout, await_reply=False)
        if not clients:
            return
        await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in clients], timeout=timeout + 1)
        for c in clients:
            if not c.ws.closed:
                c.abort()
