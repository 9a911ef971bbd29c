"""The WebSocket wire as a socket writer sees it: server frames, built once for every
socket that gets them (one, or a :class:`Run` of a room's messages), and the three small
interfaces it writes through (asyncio's transport, aiohttp's drain and aiohttp's socket
state), which tests replace with fakes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol


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


class Run(NamedTuple):
    """Consecutive chat frames of one room from one writer batch, queued to each socket of
    the room as one item and written as one bytes object. Queued one by one, a batch of 100
    messages to 10,000 idle sockets grew every queue by 100 slots before the flush (3-4 MiB
    of the peak RSS), and cost 100 appends per socket instead of one.

    Indexed like a socket writer's ``Item``: ``[0]`` is the newest chat id, ``[1]`` the bytes."""

    last: int  # the newest chat id
    data: bytes  # every frame, joined
    items: tuple[tuple[int, bytes], ...]  # one by one, ids rising: for a socket whose backfill had some

    @classmethod
    def of(cls, items: Sequence[tuple[int, bytes]]) -> Run:
        return cls(items[-1][0], b"".join(frame for _, frame in items), tuple(items))


class Transport(Protocol):
    """The part of ``asyncio.Transport`` a socket writer uses."""

    def write(self, data: bytes) -> None: ...
    def is_closing(self) -> bool: ...
    def get_write_buffer_size(self) -> int: ...
    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None: ...
    def can_write_eof(self) -> bool: ...
    def write_eof(self) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class Drain(Protocol):
    """aiohttp's ``request.writer``: waits until the transport has taken what it holds."""

    async def drain(self) -> None: ...


class SocketState(Protocol):
    """aiohttp's ``WebSocketResponse``: ``closed`` once aiohttp closed the socket itself
    (a protocol error such as 1009, or a missed heartbeat), after which we write nothing."""

    @property
    def closed(self) -> bool: ...


def silence_heartbeat(ws: object) -> None:
    """Stop aiohttp's heartbeat pings on ``ws`` for good: once our close frame is written,
    nothing may follow it, and aiohttp's heartbeat is the one writer that does not go
    through the socket's writer. aiohttp has no public way to stop it short of its own
    close() (which cannot be used here, see ``SocketWriter._close_ws``), so this touches
    two of ``WebSocketResponse``'s internals: ``_heartbeat`` (None keeps data received
    later from re-arming it) and ``_cancel_heartbeat()``. Anything without them (a test's
    fake) has no heartbeat to stop.
    """
    cancel = getattr(ws, "_cancel_heartbeat", None)
    if cancel is not None:
        ws._heartbeat = None  # type: ignore[attr-defined]
        cancel()


def close_frame(code: int, reason: bytes) -> bytes:
    payload = code.to_bytes(2, "big") + reason[:123]  # a control frame carries 125 bytes at most
    return bytes((0x88, len(payload))) + payload


def pong_frame(payload: bytes) -> bytes:
    return bytes((0x8A, len(payload))) + payload
