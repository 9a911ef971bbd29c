"""A bare-bones WebSocket client for tests that must misbehave: never read, reset, send junk."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

CLOSE = 0x8
TEXT = 0x1


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame, as RFC 6455 requires of clients."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def raw_connect(host: str, port: int, path: str, *, rcvbuf: int | None = None,
                      headers: dict[str, str] | None = None,
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int]:
    """Open a WebSocket by hand; return the streams and the handshake's status code."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**16)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    status = int(status_line.split()[1])
    while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b""):
        pass
    return reader, writer, status


def reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection with a TCP RST, as a crashed or unplugged peer would."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def parse_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split unmasked server frames out of ``data``; a trailing partial frame is dropped."""
    return split_frames(data)[0]


def split_frames(data: bytes | bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """The complete unmasked server frames at the start of ``data``, and how many bytes they take."""
    frames: list[tuple[int, bytes]] = []
    i = 0
    while i + 2 <= len(data):
        opcode = data[i] & 0x0F
        n = data[i + 1] & 0x7F
        j = i + 2
        if n == 126:
            if j + 2 > len(data):
                break
            n = struct.unpack("!H", data[j:j + 2])[0]
            j += 2
        elif n == 127:
            if j + 8 > len(data):
                break
            n = struct.unpack("!Q", data[j:j + 8])[0]
            j += 8
        if j + n > len(data):
            break
        frames.append((opcode, bytes(data[j:j + n])))
        i = j + n
    return frames, i


async def read_until_closed(reader: asyncio.StreamReader, timeout: float = 10.0) -> bytes:
    """Everything the server sent until it closed or reset the connection."""
    chunks: list[bytes] = []
    async with asyncio.timeout(timeout):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


class FrameReader:
    """Reads a raw socket's server frames only when the test asks: between two calls the
    peer is not reading at all, as a stuck or paused client would not."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._buffer = bytearray()
        self.frames: list[tuple[int, bytes]] = []
        self.texts: list[dict[str, Any]] = []
        self.chat_ids: list[int] = []
        self.close_code: int | None = None
        self.after_close = 0  # bytes that arrived after the close frame (there must be none)
        self.ended = False  # the server closed or reset the connection

    async def read_until(self, done: Callable[[FrameReader], bool], timeout: float = 10.0) -> None:
        """Read until ``done(self)`` holds or the connection ends."""
        async with asyncio.timeout(timeout):
            while not done(self) and not self.ended:
                try:
                    chunk = await self._reader.read(65536)
                except ConnectionError:
                    chunk = b""
                if not chunk:
                    self.ended = True
                    return
                self._take(chunk)

    async def read_to_end(self, timeout: float = 10.0) -> None:
        await self.read_until(lambda _: False, timeout)

    def _take(self, chunk: bytes) -> None:
        if self.close_code is not None:
            self.after_close += len(chunk)
            return
        self._buffer += chunk
        frames, used = split_frames(self._buffer)
        del self._buffer[:used]
        for opcode, payload in frames:
            if self.close_code is not None:
                self.after_close += len(payload) + 2
            elif opcode == CLOSE:
                self.close_code = int.from_bytes(payload[:2], "big")
            elif opcode == TEXT:
                frame = json.loads(payload)
                self.texts.append(frame)
                if frame.get("type") == "chat":
                    self.chat_ids.append(frame["id"])
            self.frames.append((opcode, payload))
        if self.close_code is not None:
            self.after_close += len(self._buffer)
            self._buffer.clear()
