"""The room hub: who is connected to which room, and getting frames to them.

Each :class:`Client` has a bounded outgoing queue and its own writer task, so a broadcast
serialises a frame once and hands the same string to every queue without awaiting
anyone. A client whose queue fills up (it stopped reading) is told it ``lagged`` and
closed with 1008 instead of slowing the room or growing memory without bound.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
from collections.abc import Sequence

from aiohttp import WSCloseCode, web

from .models import dumps
from .writer import Stored

log = logging.getLogger(__name__)

PRESENCE_DELAY = 0.2  # seconds: joins and leaves in a burst cost one presence frame
PRESENCE_NAMES = 200  # names listed in a presence frame; ``count`` is always exact
CLOSE_TIMEOUT = 2.0


class Client:
    _ids = itertools.count(1)

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, room: str, user: str,
                 addr: str, max_queue: int) -> None:
        self.id = next(self._ids)
        self.ws = ws
        self.room = room
        self.user = user
        self.addr = addr
        self._transport = request.transport
        self._queue: collections.deque[tuple[int | None, str]] = collections.deque()
        self._wake = asyncio.Event()
        self._max_queue = max_queue
        self._close: tuple[int, bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self.skip_upto = 0  # chat frames up to this id were already sent as backfill
        self.last_sent_id = 0
        self.lagged = False

    def __repr__(self) -> str:
        return f"<Client #{self.id} {self.room}/{self.user} from {self.addr}>"

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"chatapp-client-{self.id}")

    def send(self, text: str, msg_id: int | None = None) -> None:
        """Queue a frame; never waits. A client that is too far behind is cut loose."""
        if self.lagged or self._close is not None:
            return
        if len(self._queue) >= self._max_queue:
            self._lag()
            return
        self._queue.append((msg_id, text))
        self._wake.set()

    def close(self, code: int, message: bytes) -> None:
        """Send what is queued, then close with ``code``."""
        if self._close is None:
            self._close = (code, message)
            self._wake.set()

    async def wait_closed(self, timeout: float | None = None) -> None:
        if self._task is not None:
            await asyncio.wait([self._task], timeout=timeout)

    async def stop(self) -> None:
        if self._task is None or self._task.done():
            return
        if self.lagged:  # let the lagged frame and the 1008 close go out first
            await asyncio.wait([self._task], timeout=CLOSE_TIMEOUT + 1)
        self._task.cancel()
        await asyncio.wait([self._task])

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _lag(self) -> None:
        log.warning("%r lagged %d frames behind; closing it", self, len(self._queue))
        self.lagged = True
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.create_task(self._close_lagged(), name=f"chatapp-lagged-{self.id}")

    async def _close_lagged(self) -> None:
        await self._close_ws(WSCloseCode.POLICY_VIOLATION, b"lagged",
                             dumps({"type": "lagged", "resume_after": self.last_sent_id}))

    async def _close_ws(self, code: int, message: bytes, last_words: str | None = None) -> None:
        """Close within CLOSE_TIMEOUT, or abort: a peer that stopped reading cannot stall us.

        aiohttp's own fallback on a failed close is ``transport.close()``, which waits for
        the write buffer to drain — forever, for a peer that stopped reading — so on any
        failure the transport is aborted instead.
        """
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                if last_words is not None:
                    await self.ws.send_str(last_words)
                await self.ws.close(code=code, message=message)
        except (Exception, asyncio.CancelledError) as exc:
            self.abort()
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling():
                raise
            if not isinstance(exc, (TimeoutError, asyncio.CancelledError, ConnectionError, RuntimeError)):
                log.exception("%r: closing failed", self)

    async def _run(self) -> None:
        ws = self.ws
        queue = self._queue
        try:
            while True:
                if not queue:
                    if self._close is not None:
                        break
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                msg_id, text = queue.popleft()
                if msg_id is not None:
                    if msg_id <= self.skip_upto:
                        continue
                    self.last_sent_id = msg_id
                await ws.send_str(text)
        except (ConnectionError, RuntimeError) as exc:
            # The peer went away mid-send; its handler sees the close and cleans up.
            log.debug("%r: send failed: %s", self, exc)
            return
        code, message = self._close or (WSCloseCode.GOING_AWAY, b"")
        await self._close_ws(code, message)


class Hub:
    def __init__(self) -> None:
        self.rooms: dict[str, set[Client]] = {}
        self.locked: set[str] = set()
        self.per_addr: collections.Counter[str] = collections.Counter()
        self.total = 0
        self._presence_pending: dict[str, asyncio.TimerHandle] = {}

    def join(self, client: Client) -> None:
        self.rooms.setdefault(client.room, set()).add(client)
        self.per_addr[client.addr] += 1
        self.total += 1
        client.send(dumps(self.presence(client.room)))
        self._presence_changed(client.room)

    def leave(self, client: Client) -> None:
        members = self.rooms.get(client.room)
        if members is None or client not in members:
            return
        members.discard(client)
        if not members:
            del self.rooms[client.room]
        self.per_addr[client.addr] -= 1
        if self.per_addr[client.addr] <= 0:
            del self.per_addr[client.addr]
        self.total -= 1
        self._presence_changed(client.room)

    def connections(self, room: str) -> int:
        return len(self.rooms.get(room, ()))

    def presence(self, room: str) -> dict[str, object]:
        names = sorted({c.user for c in self.rooms.get(room, ())}, key=str.casefold)
        return {"type": "presence", "room": room, "users": names[:PRESENCE_NAMES], "count": len(names)}

    def _presence_changed(self, room: str) -> None:
        if room in self._presence_pending:
            return
        loop = asyncio.get_running_loop()
        self._presence_pending[room] = loop.call_later(PRESENCE_DELAY, self._send_presence, room)

    def _send_presence(self, room: str) -> None:
        self._presence_pending.pop(room, None)
        if room in self.rooms:
            self.broadcast(room, dumps(self.presence(room)))

    def broadcast(self, room: str, text: str, msg_id: int | None = None,
                  exclude: Client | None = None) -> None:
        for client in tuple(self.rooms.get(room, ())):
            if client is not exclude:
                client.send(text, msg_id)

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
            c.close(WSCloseCode.GOING_AWAY, b"server shutting down")
        if not clients:
            return
        done, pending = await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in clients],
                                           timeout=timeout)
        for c in clients:
            if not c.ws.closed:
                c.abort()
        for task in pending:
            task.cancel()
