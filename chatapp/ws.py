"""The WebSocket endpoint ``/ws/<room>``: handshake checks, resume, and the receive loop.

The handler reads: parsing and validation happen here, storing in the batch writer,
and everything sent to the socket (backfill, errors, pongs, the close) goes through the
socket's own :class:`~chatapp.connection.SocketWriter`, as the hub's broadcasts do. A bad
frame gets an error frame and the socket stays open.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import Mapping
from typing import NamedTuple

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web
from multidict import MultiDictProxy
from yarl import URL

from . import changes, protocol
from .accounts import MEMBER_NAMES, current_member
from .attention import ATTENTION
from .connection import CLOSE_TIMEOUT, STALL_TIMEOUT, SocketWriter
from .hub import Client
from .keys import HUB, SENDERS, SETTINGS, STORE, WRITER
from .middlewares import error_page
from .models import dumps
from .netutil import client_addr, origin_allowed
from .params import int_query
from .privacy import ROOM_GONE, RoomAccess, still_allowed, visible_room
from .protocol import ProtocolError
from .ratelimit import TokenBucket
from .resume import backfill
from .writer import NotStored, Stored, WriterClosed

log = logging.getLogger(__name__)

# The largest valid frame: 4,000 astral characters written as JSON escapes ("\ud83d\ude00",
# 12 bytes each) is 48 KB; anything over 64 KiB is closed with 1009 before it is buffered.
MAX_FRAME = 64 * 1024
MAX_BACKFILL = 10_000  # the most a client may ask to be replayed before a reset
IN_FLIGHT = 64  # messages one socket may have waiting for the writer before we stop reading it
TYPING_INTERVAL = 1.0
# Every frame a socket sends costs from its frame budget before it is even parsed (one
# token, plus one per 4 KiB): typing and garbage are not free. The budget is this many
# times the message rate and burst, so chat at the message limit never touches it.
FRAME_BUDGET = 4
FRAME_BYTES_PER_TOKEN = 4096
# Error replies are themselves limited: past this rate they are dropped, not sent.
ERROR_RATE, ERROR_BURST = 5.0, 20
GARBAGE_ALLOWED = 50  # invalid frames in a row before the socket is closed (1008)
CHARS_PER_TOKEN = 1000  # per-address volume: a message costs one more per 1,000 characters
_CLOSED = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED})  # what ends ``async for``


def _error(code: str, client_id: str | None = None) -> str:
    return dumps(ProtocolError(code, client_id=client_id).frame())


class _Admitted(NamedTuple):
    """What the handshake's checks found: who is joining which room, and how to resume."""

    room: str
    user: str
    addr: str
    member_id: int | None
    after: int | None
    max_backfill: int | None
    access: RoomAccess
    query: MultiDictProxy[str]


async def websocket(request: web.Request) -> web.StreamResponse:
    """The handshake's checks, the upgrade, then the socket's whole life.

    This coroutine's frame, and everything it refers to, lives as long as the socket: what
    only the handshake needs is not kept in it (the checks are :func:`_admit`'s, the query
    is parsed into a copy that the request does not cache, and both are dropped once the
    socket has joined), and the receive loop's state is a :class:`_Receiver`, not a second
    coroutine, made when the socket first sends something. For the same reason no
    middleware frame wraps it (see :func:`chatapp.middlewares.errors`): a refused handshake
    or an error gets the errors middleware's answer from here.
    """
    try:
        admitted = await _admit(request)
        settings = request.app[SETTINGS]
        ws = web.WebSocketResponse(
            heartbeat=settings.heartbeat or None,
            max_msg_size=MAX_FRAME,
            compress=False,  # permessage-deflate costs CPU per client and opens compression attacks
            # We answer close frames and pings ourselves, through the socket's writer: after a
            # server-initiated close (see SocketWriter._close_ws) aiohttp would otherwise send a
            # second close frame, which Chromium treats as a protocol error (close code 1006
            # instead of ours), and a pong written behind the writer's back could follow it.
            autoclose=False,
            autoping=False,
        )
        try:
            # Not can_prepare() first: it makes the whole handshake (the accept key's SHA-1
            # included) that prepare() makes again, and refuses exactly what prepare() raises for.
            await ws.prepare(request)
        except web.HTTPException:
            raise web.HTTPBadRequest(text="This URL only speaks WebSocket.") from None
        transport = request.transport
        if transport is None:
            return ws  # the peer left during the handshake

        hub = request.app[HUB]
        # A peer that takes nothing for a heartbeat interval is as good as one that missed a pong.
        out = SocketWriter(transport, request.writer, ws, hub.flusher, settings.send_queue,
                           after=admitted.after, stall_timeout=settings.heartbeat or STALL_TIMEOUT)
        client = Client(out, admitted.room, admitted.user, admitted.addr, admitted.member_id)
        log.debug("%r connected (after=%s)", client, admitted.after)
        hub.join(client)
        if not still_allowed(request.app, admitted.access):  # lost access while the handshake ran
            out.close(ROOM_GONE, b"removed from room")
        # The room's epoch as this socket joined: if the room is deleted later, what the socket
        # still sends is refused instead of bringing the room back (see chatapp.rooms).
        epoch = request.app[WRITER].rooms.epoch(client.room)
        receiver: _Receiver | None = None  # made with the first frame: many sockets only listen
        attention = request.app[ATTENTION]
        try:
            # sidebar=1: a member's sidebar, and their other rooms' activity
            await attention.join(client, admitted.query)
            after, max_backfill = admitted.after, admitted.max_backfill
            del admitted  # see the docstring
            if after is not None:
                await backfill(request.app[STORE], hub.resume, client, after, max_backfill)
            # Not ``async for``: its __anext__ would be one more coroutine held by every socket.
            while True:
                msg = await ws.receive()
                if msg.type in _CLOSED:
                    break
                if receiver is None:
                    receiver = _Receiver(request.app, client, epoch)
                chat = receiver.take(msg)
                if chat is not None:
                    await receiver.store(chat)
        finally:
            out.reading_stopped()  # answers the peer's close, unless we sent ours first
            hub.leave(client)
            attention.leave(client)
            if not await out.wait_closed(CLOSE_TIMEOUT + 1):
                out.abort()
            log.debug("%r disconnected", client)
        return ws
    except Exception as exc:  # as the errors middleware answers every other route
        page = error_page(request, exc)
        if page is None:
            raise
        return page


async def _admit(request: web.Request) -> _Admitted:
    """The handshake's checks, in order: the room (a private room is refused as if it did
    not exist), the origin, the connection limits, the name and the resume parameters."""
    settings = request.app[SETTINGS]
    hub = request.app[HUB]
    access = await visible_room(request)
    room = sys.intern(access.room)  # one string for the room's sockets, not one each
    if not origin_allowed(request, settings):
        log.warning("refused a WebSocket from origin %s", request.headers.get("Origin"))
        raise web.HTTPForbidden(text="Cross-origin WebSocket refused.")
    addr = client_addr(request, settings)
    if settings.max_connections and hub.total >= settings.max_connections:
        raise web.HTTPServiceUnavailable(text="The server is at its connection limit.")
    if settings.max_connections_per_ip and hub.per_addr[addr] >= settings.max_connections_per_ip:
        raise web.HTTPTooManyRequests(text="Too many connections from your address.")
    query = _query(request)
    # A member's name is their account's (the query's user is ignored); a guest's is their
    # own pick, unless it is a member's (CHATAPP_ACCESS=members has no guests: see accounts.access).
    member = await current_member(request)
    try:
        raw_user = query.get("user", "")
        user = protocol.clean_user(raw_user) if raw_user.strip() else protocol.DEFAULT_USER
    except ProtocolError as exc:
        if member is None:
            raise web.HTTPBadRequest(text=exc.detail) from None
    if member is not None:
        user = member.name
    elif request.app[MEMBER_NAMES].taken(user):
        raise web.HTTPBadRequest(text=dumps(ProtocolError("name_taken").frame()), content_type="application/json")
    after = int_query(query, "after")
    return _Admitted(room, user, addr, member.id if member is not None else None, after, _max_backfill(query),
                     access, query)


def _query(request: web.Request) -> MultiDictProxy[str]:
    """The query parameters, parsed as ``request.query`` would be but not cached on the
    request (nor on its URL), which lives as long as the socket: ~0.5 KiB a socket."""
    return URL.build(query_string=request.rel_url.raw_query_string, encoded=True).query


def _max_backfill(query: Mapping[str, str]) -> int | None:
    limit = int_query(query, "max_backfill")
    if limit is not None and not 1 <= limit <= MAX_BACKFILL:
        raise web.HTTPBadRequest(text=f"max_backfill must be from 1 to {MAX_BACKFILL}")
    return limit


class _Receiver:
    """What one socket sends, a frame at a time: flood control (its frame, message and
    error budgets, its strikes and invalid frames in a row), parsing, and handing each
    frame on (typing to the hub, attention, changes, chat messages to the writer).

    Its state is an object rather than the locals of a receive coroutine because the
    handler's coroutine already lives as long as the socket, and a second one (~0.45 KiB)
    adds up over 10,000 idle sockets. Budgets are made only when needed: most sockets never
    type, and ``msg_rate`` 0 means no limit; likewise the in-flight semaphore.
    """

    __slots__ = ("app", "client", "epoch", "errors", "frames", "garbage", "messages", "slots",
                 "strikes", "typing")

    def __init__(self, app: web.Application, client: Client, epoch: int) -> None:
        self.app = app
        self.client = client
        self.epoch = epoch
        settings = app[SETTINGS]
        limited = settings.msg_rate > 0
        self.messages = TokenBucket(settings.msg_rate, settings.msg_burst) if limited else None
        self.frames = (TokenBucket(FRAME_BUDGET * settings.msg_rate, FRAME_BUDGET * settings.msg_burst)
                       if limited else None)
        self.errors = TokenBucket(ERROR_RATE, ERROR_BURST) if limited else None
        self.typing: TokenBucket | None = None
        self.strikes = self.garbage = 0
        self.slots: asyncio.Semaphore | None = None

    def refuse(self, code: str, client_id: str | None = None, detail: str | None = None) -> None:
        """An error frame, unless this socket has had too many of them lately."""
        if self.errors is None or self.errors.allow():
            self.client.out.send(dumps(ProtocolError(code, detail, client_id).frame()))

    def _strike(self) -> None:
        self.strikes += 1
        if self.strikes > max(2 * self.app[SETTINGS].msg_burst, 20):
            _abuse(self.client, b"rate limit exceeded")

    def take(self, msg: WSMessage) -> protocol.ChatIn | None:
        """Handle one frame from the socket; a chat message to store is handed back (storing
        it may have to wait for a slot: see :meth:`store`)."""
        client = self.client
        out = client.out
        if out.closing:
            return None  # we sent our close: read on until the peer's answer, ignore the rest
        if msg.type == WSMsgType.PING:
            out.pong(msg.data)
            return None
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return None
        if self.frames is not None and not self.frames.allow(1 + len(msg.data) // FRAME_BYTES_PER_TOKEN):
            self.refuse("rate_limited", detail="You are sending too fast; that frame was dropped.")
            self._strike()
            return None
        if msg.type == WSMsgType.BINARY:
            frame: protocol.Frame | None = None
            self.refuse("binary_not_supported")
        else:
            try:
                frame = protocol.parse(msg.data, client.user)
            except ProtocolError as exc:
                frame = None
                self.refuse(exc.code, exc.client_id, exc.detail)
        if frame is None:
            self.garbage += 1
            if self.garbage > GARBAGE_ALLOWED:
                _abuse(client, b"too many invalid frames")
            return None
        self.garbage = 0
        app = self.app
        if isinstance(frame, protocol.ChatIn) and frame.user != client.user:
            if client.member_id is not None:  # a member posts under their account's name only
                frame = protocol.ChatIn(frame.message, client.user, frame.client_id, frame.reply_to)
            elif app[MEMBER_NAMES].taken(frame.user):
                self.refuse("name_taken", frame.client_id)
                return None
        if isinstance(frame, protocol.TypingIn):
            if self.typing is None:
                self.typing = TokenBucket(1 / TYPING_INTERVAL, 1)
            if self.typing.allow():
                app[HUB].typing(client)
            return None
        if isinstance(frame, protocol.ATTENTION_FRAMES):
            app[ATTENTION].receive(client, frame, self.refuse)
            return None
        if isinstance(frame, protocol.CHANGE_FRAMES):
            if self.messages is not None and not self.messages.allow():
                self.refuse("rate_limited", detail="You are sending too fast; that change was not made.")
                self._strike()
                return None
            changes.submit(app, client, frame, self.epoch, self.refuse)
            return None
        refusal = app[WRITER].rooms.refusal(client.room, self.epoch)
        if refusal is not None:  # said at once; the writer checks again when it commits
            self.refuse(refusal, frame.client_id)
            return None
        if self.messages is not None and not self.messages.allow():
            self.refuse("rate_limited", frame.client_id)
            self._strike()
            return None
        if not app[SENDERS].allow(client.addr, 1 + len(frame.message) // CHARS_PER_TOKEN):
            self.refuse("rate_limited", frame.client_id,
                        "Your address is sending too much across all its connections; that message was not sent.")
            return None
        self.strikes = 0
        return frame

    async def store(self, frame: protocol.ChatIn) -> None:
        """Hand a chat message to the writer, once fewer than IN_FLIGHT of this socket's are
        waiting to be stored (until then the socket is not read)."""
        if self.slots is None:
            self.slots = asyncio.Semaphore(IN_FLIGHT)
        slots = self.slots
        await slots.acquire()
        client = self.client
        try:
            future = self.app[WRITER].submit(client.room, frame.user, frame.message, frame.client_id, self.epoch,
                                             creator=client.addr, member_id=client.member_id,
                                             reply_to=frame.reply_to)
        except WriterClosed:
            slots.release()
            self.refuse("shutting_down", frame.client_id)
            return
        future.add_done_callback(functools.partial(self._stored, frame.client_id))

    def _stored(self, client_id: str | None, future: asyncio.Future[Stored]) -> None:
        assert self.slots is not None
        self.slots.release()
        if future.cancelled():
            return
        exc = future.exception()
        out = self.client.out
        if exc is not None:
            if not isinstance(exc, NotStored):
                log.error("%r: storing failed", self.client, exc_info=exc)
            out.send(_error(exc.code if isinstance(exc, NotStored) else "not_stored", client_id))
        elif future.result().duplicate:
            out.send(future.result().text)


def _abuse(client: Client, reason: bytes) -> None:
    log.warning("%r: %s; closing it", client, reason.decode())
    client.out.close(WSCloseCode.POLICY_VIOLATION, reason)
