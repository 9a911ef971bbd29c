"""The reconnect storm (issue #17): every page of a busy server reconnects at once after a restart.

5,000 clients (``--quick``: 1,000) in rooms of 50, one sender per room, 200 messages a
second in all, before, during and after chatapp is restarted with SIGTERM on the same port
and database. Each client behaves as the room page does (static/room-socket.js,
static/room-outbox.js, static/room-main.js): on a close it waits the page's backoff,
reconnects with ``after=<the highest id it holds>&max_backfill=500``, and a sender sends
again, with the same ``client_id``, every message it has no stored frame for yet. A
client has caught up once it holds every message of its room that any client of the room
had seen when it got back in; at the end each must hold exactly its room's messages, each
once, in id order. Against the reference relay the same number of fresh connections is
opened through the same gate: ``catch_up_s`` of both is the figure the target compares.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import random
import time
from typing import Any

import orjson

from .scenarios import Meter, Outcome
from .servers import Server
from .wsclient import Run, close_all, connect_many, control_frame, frame_text, read_frames

PER_ROOM = 50
RATE = 200.0  # messages a second, all rooms together
BEFORE = 3.0  # seconds of sending before the restart
AFTER = 1.0  # and after the last client is back in
# Handshakes in flight from this one generator, under aiohttp's default listen backlog (128),
# so the kernel never drops a SYN and the figure is the server's; the relay gets the same gate.
CONCURRENCY = 100
CONNECT_TIMEOUT = 10.0  # one attempt; a hung one counts as failed and backs off
BACK_TIMEOUT = 120.0  # from the restart until every client is back in
DRAIN_TIMEOUT = 60.0
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
COUNTS = ("failed_attempts", "storm_messages", "shutting_down", "resent", "retry_echoes", "duplicates",
          "out_of_order", "resets", "gaps", "extra")


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


async def _wait(event: asyncio.Event, timeout: float, what: str, storm: Storm) -> bool:
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
        return True
    except TimeoutError:
        storm.run.problem(f"timed out after {timeout:.0f}s waiting for {what}")
        return False


async def _send(senders: list[Page], stop: asyncio.Event) -> None:
    """RATE messages a second at fixed times, round-robin over the rooms' senders, until ``stop``."""
    step, t0, k = 1e9 / RATE, time.monotonic_ns(), 0
    while not stop.is_set():
        now = time.monotonic_ns()
        while t0 + k * step <= now:
            senders[k % len(senders)].post()
            k += 1
        try:
            async with asyncio.timeout((t0 + k * step - now) / 1e9):
                await stop.wait()
        except TimeoutError:
            pass


async def storm(server: Server, *, quick: bool = False) -> Outcome:
    clients = 1_000 if quick else 5_000
    if server.name == "reference":
        return await _fresh(server, clients)
    return await _storm(server, clients)


async def _fresh(server: Server, clients: int) -> Outcome:
    """The relay's side: how long ``clients`` fresh connections take, through the same gate."""
    run = Run()
    meter = Meter(server)
    t = time.perf_counter()
    pages = await connect_many([(i, f"s{i // PER_ROOM}", f"u{i}") for i in range(clients)], server.port, run,
                               concurrency=CONCURRENCY)
    took = time.perf_counter() - t
    cpu = meter.stop()
    await close_all(pages, timeout=30.0)
    metrics = {"clients": clients, "catch_up_s": round(took, 3), "connect_s": round(took, 3), **cpu}
    return Outcome(metrics, run.problems, [])


async def _storm(server: Server, clients: int) -> Outcome:
    storm = Storm(server.port, clients)
    pages = [Page(storm, i, f"s{i // PER_ROOM}", i % PER_ROOM == 0) for i in range(clients)]
    stop = asyncio.Event()
    sending: asyncio.Task[None] | None = None
    metrics: dict[str, Any] = {"clients": clients, "rooms": clients // PER_ROOM}
    try:
        t = time.perf_counter()
        for p in pages:
            p.connect()
        if not await _wait(storm.all_open, BACK_TIMEOUT, "the first connections", storm):
            return Outcome(metrics, storm.run.problems, storm.generated)
        metrics["connect_s"] = round(time.perf_counter() - t, 3)
        sending = asyncio.create_task(_send([p for p in pages if p.sender], stop))
        await asyncio.sleep(BEFORE)  # load before the restart, not a wait for anything

        storm.restarting = True
        sig_ns = time.monotonic_ns()
        code, exited = await server.restart()
        ready_ns = min(time.monotonic_ns(), storm.first_back_ns or 1 << 62)
        meter = Meter(server)
        if code != 0:
            storm.run.problem(f"chatapp exited with {code} on SIGTERM")
        back = await _wait(storm.all_back, BACK_TIMEOUT, "every client to reconnect", storm)
        back_ns = time.monotonic_ns()
        if back:
            await asyncio.sleep(AFTER)  # sending goes on after the storm
        stop.set()
        await sending
        storm.sending = False
        storm.settled(0)
        await _wait(storm.outboxes_empty, DRAIN_TIMEOUT, "every message to be acknowledged", storm)
        storm.expected = sum(len(storm.stored[p.room]) for p in pages)
        storm.hold(0)
        await _wait(storm.drained, DRAIN_TIMEOUT, "every client to hold its room's messages", storm)
        cpu = meter.stop()
        problems = _verify(pages, storm)
        metrics.update({"exit_code": code, "shutdown_s": round(exited, 3),
                        **_timeline(pages, storm, sig_ns, ready_ns, back_ns if back else 0),
                        "messages": len(storm.generated), "reconnect_attempts": storm.counts["attempts"],
                        **{k: storm.counts[k] for k in COUNTS},
                        "close_codes": {str(k): v for k, v in sorted(storm.close_codes.items())},
                        "refused": {k[8:]: v for k, v in storm.counts.items() if k.startswith("refused_")},
                        **cpu})
        return Outcome(metrics, problems, storm.generated)
    finally:
        stop.set()
        if sending is not None and not sending.done():
            sending.cancel()
        await _finish(pages, storm)


def _timeline(pages: list[Page], storm: Storm, sig_ns: int, ready_ns: int, back_ns: int) -> dict[str, Any]:
    """Seconds from the restarted server's readiness: the last client caught up, the median
    one, the last back in; the longest backfill; when the last successful attempt's backoff
    timer fired, and the longest wait at the gate (was it the page's backoff or the server?).

    A client has caught up when it holds every message of its room up to the newest any
    client of the room had seen as it got back in (or as it got back in, if it had them all).
    """
    back = [p for p in pages if p.back_ns]
    if not back_ns or not back:
        return {"restart_s": round((ready_ns - sig_ns) / 1e9, 3), "catch_up_s": None}
    caught = sorted(((max([p.back_ns, *(p.held.get(i, 1 << 62) for i in storm.stored[p.room] if i <= p.target)]), p)
                     for p in back), key=lambda cp: cp[0])

    def s(ns: int) -> float | None:  # None: a client never caught up (a problem of its own)
        return round(ns / 1e9, 3) if ns < 1 << 61 else None

    return {"last_close_s": s(storm.last_close_ns - sig_ns), "restart_s": s(ready_ns - sig_ns),
            "catch_up_s": s(caught[-1][0] - ready_ns), "catch_up_p50_s": s(caught[len(caught) // 2][0] - ready_ns),
            "last_back_s": s(back_ns - ready_ns), "backfill_max_s": s(max(c - p.back_ns for c, p in caught)),
            "last_timer_s": s(max(p.back_fired_ns for p in back) - ready_ns),
            "gate_wait_max_s": s(max(p.back_gated_ns - p.back_fired_ns for p in back)),
            "total_s": s(caught[-1][0] - sig_ns)}


def _verify(pages: list[Page], storm: Storm) -> list[str]:
    """Each client holds exactly its room's acknowledged messages (order and duplicates were
    checked as they came)."""
    run = storm.run
    for p in pages:
        want, have = storm.stored[p.room], set(p.held)
        gaps, extra = len(want - have), len(have - want)
        storm.counts.update(gaps=gaps, extra=extra)
        if gaps or extra:
            run.problem(f"client {p.idx} in {p.room}: {gaps} missing, {extra} not acknowledged to the sender, "
                        f"e.g. {sorted(want ^ have)[:3]}")
    if unsent := sum(len(p.outbox) for p in pages):
        run.problem(f"{unsent} messages never acknowledged to their sender")
    problems = list(run.problems)
    if run.problem_count > len(problems):
        problems.append(f"... {run.problem_count - len(problems)} more problems")
    return problems


async def _finish(pages: list[Page], storm: Storm) -> None:
    storm.finishing = True
    gc.enable()  # a Meter left running by a failure must not leave the generator without it
    for t in list(storm.tasks):
        t.cancel()
    waiting = []
    for p in pages:
        if p.transport is not None:
            if p.open:
                p.transport.write(control_frame(0x8, (1000).to_bytes(2, "big")))
            p.transport.close()
            if p.lost is not None:
                waiting.append(p.lost)
    if waiting:
        await asyncio.wait(waiting, timeout=30.0)
