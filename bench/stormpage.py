"""A client that behaves as the room page does, for the reconnect storm (bench/storm.py).

Its socket, backoff and jitter follow static/room-socket.js; its outbox re-sends what has
no stored frame yet with the same ``client_id`` (static/room-outbox.js); it resumes with
``after=`` and ``max_backfill`` as static/room-main.js does, and checks what it holds.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from typing import Any

import orjson

from .wsclient import Run, control_frame, frame_text, read_frames

# Handshakes in flight from this one generator, under aiohttp's default listen backlog (128),
# so the kernel never drops a SYN and the figure is the server's; the relay gets the same gate.
CONCURRENCY = 100
CONNECT_TIMEOUT = 10.0  # one attempt; a hung one counts as failed and backs off
# The page's constants: static/room-socket.js (FIRST_DELAY_MS, MAX_DELAY_MS, LAGGED_RETRY_MS,
# RESTART_RETRY_MS and RESTART_ATTEMPTS,
# backoff(): doubling, capped, x (0.75 + random() / 2)) and static/room-timeline.js (CAP,
# sent as max_backfill by static/room-main.js).
FIRST_DELAY = 0.5
MAX_DELAY = 15.0
LAGGED_RETRY = 0.1
RESTART_RETRY = 0.4  # RESTART_RETRY_MS, for RESTART_ATTEMPTS attempts after a GOING_AWAY close
RESTART_ATTEMPTS = 40
GOING_AWAY = 1001
POLICY = 1008
MAX_BACKFILL = 500


# Math.random() there; seeded here, so two runs draw the same delays.
_jitter = random.Random(17)


def backoff(attempt: int) -> float:
    """static/room-socket.js ``backoff(attempt)``, in seconds."""
    return min(MAX_DELAY, FIRST_DELAY * 2.0 ** (attempt - 1)) * (0.75 + _jitter.random() / 2)


class Storm:
    """What every client shares: the server's port, the handshake gate, counters and signals."""

    def __init__(self, port: int, clients: int) -> None:
        self.port, self.clients = port, clients
        self.gate = asyncio.Semaphore(CONCURRENCY)
        self.run = Run()  # only for its bounded problem list
        self.tasks: set[asyncio.Task[None]] = set()
        self.counts: collections.Counter[str] = collections.Counter()
        self.close_codes: collections.Counter[int] = collections.Counter()
        self.restarting = self.finishing = False  # finishing: the scenario is closing, no reconnects
        self.sending = True
        self.opened = self.back = self.held = self.pending = 0  # pending: messages in outboxes
        self.expected = -1  # deliveries in all, once sending is over
        self.first_back_ns = self.last_close_ns = 0
        self.all_open, self.all_back = asyncio.Event(), asyncio.Event()
        self.outboxes_empty, self.drained = asyncio.Event(), asyncio.Event()
        self.room_head: dict[str, int] = collections.defaultdict(int)  # newest id any client of it saw
        self.stored: dict[str, set[int]] = collections.defaultdict(set)  # ids acknowledged to senders
        self.generated: list[tuple[str, str]] = []

    def hold(self, count: int = 1) -> None:
        self.held += count
        if self.held >= self.expected >= 0:
            self.drained.set()

    def settled(self, count: int = 1) -> None:
        self.pending -= count
        if self.pending == 0 and not self.sending:
            self.outboxes_empty.set()


class Page(asyncio.Protocol):
    """One room page: its socket (one connection at a time), what it holds, its outbox."""

    def __init__(self, storm: Storm, idx: int, room: str, sender: bool) -> None:
        self.storm, self.idx, self.room, self.sender = storm, idx, room, sender
        self.held: dict[int, int] = {}  # message id -> when it arrived (monotonic ns)
        self.outbox: dict[str, bytes] = {}  # client_id -> frame, oldest first
        self.resent: set[str] = set()
        self.last_id = self.seq = self.attempt = 0
        self.restarting = False  # closed with GOING_AWAY: the page's restart schedule
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.ready: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] | None = None
        self.close_code = 1006
        self._buf = b""
        self.back_ns = 0  # when it got back in after the restart
        self.target = 0  # the newest id of its room any client had seen then
        self.fired_ns = self.gated_ns = 0  # the current attempt's timer fired; it got through the gate
        self.back_fired_ns = self.back_gated_ns = 0  # the same, for the attempt that got back in

    # -- connecting, as static/room-socket.js does ---------------------------------------
    def connect(self) -> None:
        if self.storm.finishing:
            return
        task = asyncio.get_running_loop().create_task(self._attempt())
        self.storm.tasks.add(task)
        task.add_done_callback(self.storm.tasks.discard)

    async def _attempt(self) -> None:
        storm = self.storm
        if storm.restarting:
            storm.counts["attempts"] += 1
        loop = asyncio.get_running_loop()
        fired = time.monotonic_ns()
        async with storm.gate:
            self.fired_ns, self.gated_ns = fired, time.monotonic_ns()
            self.ready = loop.create_future()
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    await loop.create_connection(lambda: self, "127.0.0.1", storm.port)
                    await self.ready
                return
            except (OSError, TimeoutError) as exc:
                if self.transport is not None and not self.open:
                    self.transport.abort()
                if storm.restarting:
                    storm.counts["failed_attempts"] += 1
                else:
                    storm.run.problem(f"client {self.idx}: first connection failed ({exc!r})")
        self._retry(1006)

    def _retry(self, code: int) -> None:
        if self.storm.finishing:
            return
        self.attempt += 1
        if code == GOING_AWAY:
            self.restarting = True
        if code == POLICY and self.attempt == 1:
            delay = LAGGED_RETRY
        elif self.restarting and self.attempt <= RESTART_ATTEMPTS:
            delay = RESTART_RETRY * (0.75 + _jitter.random() / 2)
        else:
            delay = backoff(self.attempt)
        asyncio.get_running_loop().call_later(delay, self.connect)

    def _opened(self, now: int) -> None:
        self.open, self.attempt, self.restarting, storm = True, 0, False, self.storm
        if not storm.restarting:
            storm.opened += 1
            if storm.opened == storm.clients:
                storm.all_open.set()
        elif not self.back_ns:
            self.back_ns = now
            self.back_fired_ns, self.back_gated_ns = self.fired_ns, self.gated_ns
            self.target = storm.room_head[self.room]
            storm.first_back_ns = storm.first_back_ns or now
            storm.back += 1
            if storm.back == storm.clients:
                storm.all_back.set()
        # room-main.js onOpen: outbox.flush(), the same client_ids again.
        if self.outbox and self.transport is not None:
            self.resent.update(self.outbox)
            storm.counts["resent"] += len(self.outbox)
            self.transport.write(b"".join(self.outbox.values()))

    # -- the outbox, as static/room-outbox.js -----------------------------------------
    def post(self) -> None:
        self.seq += 1
        cid = f"{self.idx}.{self.seq}"
        frame = frame_text(b'{"message":"~%d~%d~0~storm","client_id":"%s"}' % (self.idx, self.seq, cid.encode()))
        self.outbox[cid] = frame
        storm = self.storm
        storm.pending += 1
        storm.generated.append((self.room, cid))
        storm.counts["storm_messages"] += storm.restarting and not storm.all_back.is_set()
        if self.open and self.transport is not None:
            self.transport.write(frame)

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport, self._buf, self.close_code = transport, b"", 1006
        self.lost = asyncio.get_running_loop().create_future()
        after = f"&after={self.last_id}&max_backfill={MAX_BACKFILL}"
        port = self.storm.port
        transport.write(
            f"GET /ws/{self.room}?user=u{self.idx}{after} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c3Rvcm0tY2xpZW50LWtleQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n\r\n".encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)
        self.transport = None
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(ConnectionError(f"lost before the upgrade: {exc}"))
        if not self.open:
            return
        self.open, storm = False, self.storm
        if storm.finishing:
            return
        storm.close_codes[self.close_code] += 1
        storm.last_close_ns = time.monotonic_ns()
        if not storm.restarting or self.back_ns:
            storm.run.problem(f"client {self.idx}: socket closed ({self.close_code}) outside the restart")
        self._retry(self.close_code)

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        now = time.monotonic_ns()
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self._buf = buf
                return
            status = buf[:buf.find(b"\r\n")]
            assert self.ready is not None
            if b" 101 " not in status:
                self.storm.counts[f"refused_{status[9:12].decode(errors='replace')}"] += 1
                self._buf = b""
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            self._opened(now)
            if not self.ready.done():
                self.ready.set_result(None)
            buf = buf[end + 4:]
        frames, self._buf = read_frames(buf)
        for opcode, payload in frames:
            if opcode == 1:
                if not payload.startswith(b'{"type":"presence"'):
                    self._frame(orjson.loads(payload), now)
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if self.transport is not None:  # answer the close, as a browser does
                    self.transport.write(control_frame(0x8, payload[:2]))
                    self.transport.close()
            elif opcode == 9 and self.transport is not None:
                self.transport.write(control_frame(0xA, payload))

    def _frame(self, frame: dict[str, Any], now: int) -> None:
        storm, kind, cid = self.storm, frame.get("type"), frame.get("client_id")
        if kind == "chat":
            mid = int(frame["id"])
            retried = cid in self.resent
            if mid in self.held:
                if retried:  # a retry gets the stored frame back as well (docs/protocol.md)
                    storm.counts["retry_echoes"] += 1
                else:
                    storm.counts["duplicates"] += 1
                    storm.run.problem(f"client {self.idx} in {self.room}: message {mid} twice")
            else:
                if mid < self.last_id and not retried:
                    storm.counts["out_of_order"] += 1
                    storm.run.problem(f"client {self.idx}: message {mid} after {self.last_id}")
                self.held[mid] = now
                self.last_id = max(self.last_id, mid)
                if mid > storm.room_head[self.room]:
                    storm.room_head[self.room] = mid
                storm.hold()
            if cid is not None and cid in self.outbox:
                del self.outbox[cid]
                storm.stored[self.room].add(mid)
                storm.settled()
        elif kind == "error" and frame.get("error") == "shutting_down" and cid in self.outbox:
            storm.counts["shutting_down"] += 1  # kept: sent again after the reconnect
        elif kind == "reset":
            storm.counts["resets"] += 1
            storm.run.problem(f"client {self.idx}: reset {frame}")
        elif kind not in ("typing", "sidebar", "watching"):
            storm.run.problem(f"client {self.idx}: unexpected frame {frame}")
