"""The load generator's clients: a minimal WebSocket client and a keep-alive HTTP client.

Both are plain :class:`asyncio.Protocol` objects, because one generator process on one
core has to outrun the server it measures: no per-frame task, no per-frame future, no
JSON parsing of what comes back. Outgoing frames are masked with the all-zero key (legal
on the wire, and the payload needs no XOR), and a received chat frame is recognised by
the ``~sender~seq~sent_ns~`` marker that only benchmark messages contain, so the same
code reads chatapp's ``chat`` frames and the reference server's echo of the raw frame.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable

CONNECT_TIMEOUT = 30.0
_HEADER_END = b"\r\n\r\n"
_ZERO_MASK = b"\0\0\0\0"


class Run:
    """What all clients of one measurement share: counters, latencies, a done signal."""

    def __init__(self, *, latencies: bool = False) -> None:
        self.delivered = 0
        self.target = -1  # ``done`` is set once ``delivered`` reaches it
        self.done = asyncio.Event()
        self.latencies: list[int] | None = [] if latencies else None
        self.last_ns = 0
        self.problems: list[str] = []
        self.problem_count = 0

    def problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < 20:  # keep the report readable; the count is exact
            self.problems.append(text)

    def expect(self, target: int) -> None:
        self.target = target
        if self.delivered >= target:
            self.done.set()


def frame_text(payload: bytes) -> bytes:
    """One masked client text frame (zero mask key: the payload goes out as is)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, 0x80 | n)) + _ZERO_MASK + payload
    if n < 65536:
        return bytes((0x81, 0xFE)) + n.to_bytes(2, "big") + _ZERO_MASK + payload
    return bytes((0x81, 0xFF)) + n.to_bytes(8, "big") + _ZERO_MASK + payload


class WSClient(asyncio.Protocol):
    """One benchmark connection: sends chat frames, checks every chat frame it receives.

    Per sender it expects sequence numbers 0, 1, 2, ... in order; anything else (a gap,
    a duplicate, a reordering) is a problem reported with the run.
    """

    def __init__(self, idx: int, room: str, path: str, port: int, run: Run, pad: str = "") -> None:
        self.idx = idx
        self.room = room
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n\r\n"
        ).encode()
        self.run = run
        self.pad = pad
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buf = b""
        self._upgraded = False
        self.closing = False
        self.next_seq: dict[int, int] = {}
        self.received = 0
        self.sent = 0
        self.unanswered = 0
        # Burst mode: on each echo of our own message, send another until this time
        # (and while fewer than ``limit`` were sent).
        self.burst_until_ns = 0
        self.limit = 1 << 62

    # -- sending -----------------------------------------------------------------------
    def message(self, sent_ns: int) -> bytes:
        seq = self.sent
        self.sent += 1
        self.unanswered += 1
        return frame_text(
            b'{"message":"~%d~%d~%d~%s","client_id":"%d.%d"}'
            % (self.idx, seq, sent_ns, self.pad.encode(), self.idx, seq)
        )

    def send(self, sent_ns: int) -> None:
        assert self.transport is not None
        self.transport.write(self.message(sent_ns))

    def send_many(self, count: int) -> None:
        assert self.transport is not None
        now = time.monotonic_ns()
        self.transport.write(b"".join(self.message(now) for _ in range(count)))

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.run.problem(f"client {self.idx} in {self.room}: connection lost ({exc})")
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost before the upgrade: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        if not self._upgraded:
            end = buf.find(_HEADER_END)
            if end < 0:
                self._buf = buf
                return
            status = buf[: buf.find(b"\r\n")]
            if b" 101 " not in status:
                self._buf = b""
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            self._upgraded = True
            self.ready.set_result(None)
            buf = buf[end + 4:]
        now = time.monotonic_ns()
        run = self.run
        lat = run.latencies
        next_seq = self.next_seq
        n = len(buf)
        pos = 0
        got = 0
        own = 0
        while n - pos >= 2:
            ln = buf[pos + 1] & 0x7F
            hdr = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = int.from_bytes(buf[pos + 2:pos + 4], "big")
                hdr = 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = int.from_bytes(buf[pos + 2:pos + 10], "big")
                hdr = 10
            end = pos + hdr + ln
            if end > n:
                break
            opcode = buf[pos] & 0x0F
            payload = buf[pos + hdr:end]
            pos = end
            if opcode == 1:
                parts = payload.split(b"~", 4)
                if len(parts) == 5:
                    sender = int(parts[1])
                    seq = int(parts[2])
                    if next_seq.get(sender, 0) != seq:
                        run.problem(f"client {self.idx}: from {sender} got #{seq}, "
                                    f"expected #{next_seq.get(sender, 0)}")
                    next_seq[sender] = seq + 1
                    got += 1
                    if lat is not None:
                        lat.append(now - int(parts[3]))
                    if sender == self.idx:
                        own += 1
                elif b'"type":"presence"' not in payload:
                    # errors, lagged notices: a benchmark run should see none
                    run.problem(f"client {self.idx}: unexpected frame {payload[:200]!r}")
            elif opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                if not self.closing:
                    run.problem(f"client {self.idx}: server closed the socket ({code})")
            elif opcode == 9 and self.transport is not None:
                self.transport.write(bytes((0x8A, 0x80 | len(payload))) + _ZERO_MASK + payload)
        self._buf = buf[pos:] if pos < n else b""
        if got:
            self.received += got
            run.delivered += got
            run.last_ns = now
            if run.delivered >= run.target >= 0:
                run.done.set()
        if own:
            self.unanswered -= own
            if now < self.burst_until_ns and self.transport is not None:
                # Keep the window full: one new message for each of ours that came back.
                more = min(own, self.limit - self.sent)
                if more > 0:
                    self.transport.write(b"".join(self.message(now) for _ in range(more)))


async def connect_ws(idx: int, room: str, port: int, run: Run, *, user: str | None = None,
                     pad: str = "") -> WSClient:
    loop = asyncio.get_running_loop()
    path = f"/ws/{room}" + (f"?user={user}" if user else "")
    client = WSClient(idx, room, path, port, run, pad)
    async with asyncio.timeout(CONNECT_TIMEOUT):
        await loop.create_connection(lambda: client, "127.0.0.1", port)
        await client.ready
    return client


async def connect_many(specs: list[tuple[int, str, str | None]], port: int, run: Run, *,
                       concurrency: int = 100, pad: str = "") -> list[WSClient]:
    """Open one socket per (idx, room, user), at most ``concurrency`` handshakes at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(idx: int, room: str, user: str | None) -> WSClient:
        async with gate:
            return await connect_ws(idx, room, port, run, user=user, pad=pad)

    return list(await asyncio.gather(*(one(i, r, u) for i, r, u in specs)))


async def close_all(clients: list[WSClient], timeout: float = 10.0) -> None:
    for c in clients:
        c.close()
    pending = [c.closed for c in clients if not c.closed.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)


class HTTPClient(asyncio.Protocol):
    """A keep-alive HTTP/1.1 client that issues one GET at a time and counts the answers."""

    def __init__(self, port: int, paths: Callable[[], str], until_ns: int, cookie: str = "") -> None:
        # A member's requests carry their session cookie (bench/attention.py).
        self._host = f"Host: 127.0.0.1:{port}\r\n".encode() + (f"Cookie: {cookie}\r\n".encode() if cookie else b"")
        self._paths = paths
        self.until_ns = until_ns
        self.transport: asyncio.Transport | None = None
        self.ok = 0
        self.bad = 0
        self.bytes = 0
        self.first_body: bytes | None = None
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buf = b""
        self._need = -1  # bytes of the current response, once its headers are in

    def _request(self) -> None:
        assert self.transport is not None
        self.transport.write(b"GET %s HTTP/1.1\r\n%s\r\n" % (self._paths().encode(), self._host))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._request()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.finished.set_exception(ConnectionError(f"HTTP connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        while True:
            if self._need < 0:
                end = buf.find(_HEADER_END)
                if end < 0:
                    break
                head = buf[:end].lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15:head.find(b"\r\n", at)]) if at >= 0 else 0
                self._status_ok = head.startswith(b"http/1.1 200")
                buf = buf[end + 4:]
                self._need = length
            if len(buf) < self._need:
                break
            body, buf = buf[:self._need], buf[self._need:]
            self._need = -1
            self.bytes += len(body)
            if self._status_ok:
                self.ok += 1
                if self.first_body is None:
                    self.first_body = body
            else:
                self.bad += 1
            if time.monotonic_ns() < self.until_ns:
                self._request()
            elif not self.finished.done():
                self.finished.set_result(None)
        self._buf = buf


def read_frames(buf: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The complete (opcode, payload) server frames at the start of ``buf``, and what is left.

    For clients that read every frame (bench/storm.py); :class:`WSClient` keeps its own
    inlined loop, which is faster for the frames it skims.
    """
    frames: list[tuple[int, bytes]] = []
    n = len(buf)
    pos = 0
    while n - pos >= 2:
        ln = buf[pos + 1] & 0x7F
        hdr = 2
        if ln == 126:
            if n - pos < 4:
                break
            ln = int.from_bytes(buf[pos + 2:pos + 4], "big")
            hdr = 4
        elif ln == 127:
            if n - pos < 10:
                break
            ln = int.from_bytes(buf[pos + 2:pos + 10], "big")
            hdr = 10
        end = pos + hdr + ln
        if end > n:
            break
        frames.append((buf[pos] & 0x0F, buf[pos + hdr:end]))
        pos = end
    return frames, buf[pos:]


def control_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client control frame (close 0x8, pong 0xA), payload under 126 bytes."""
    return bytes((0x80 | opcode, 0x80 | len(payload))) + _ZERO_MASK + payload
