"""The WebSocket endpoint ``/ws/<room>``: handshake checks, resume, and the receive loop.

The handler only reads: parsing and validation happen here, storing in the writer,
sending in the hub (a bounded queue per socket, flushed once per loop tick). A bad frame gets an
error frame and the socket stays open.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from aiohttp import WSCloseCode, WSMsgType, web

from . import protocol
from .api import int_param
from .hub import Client
from .keys import HUB, SETTINGS, STORE, WRITER
from .models import dumps
from .netutil import client_addr, origin_allowed
from .protocol import ProtocolError
from .ratelimit import TokenBucket
from .views import room_or_404
from .writer import NotStored, Stored, WriterClosed

log = logging.getLogger(__name__)

# The largest valid frame: 4,000 astral characters written as JSON escapes ("\ud83d\ude00",
# 12 bytes each) is 48 KB; anything over 64 KiB is closed with 1009 before it is buffered.
MAX_FRAME = 64 * 1024
BACKFILL_PAGE = 500
IN_FLIGHT = 64  # messages one socket may have waiting for the writer before we stop reading it
TYPING_INTERVAL = 1.0


def _error(code: str, client_id: str | None = None) -> str:
    return dumps(ProtocolError(code, client_id=client_id).frame())


async def websocket(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    hub = request.app[HUB]
    room = room_or_404(request)
    if not origin_allowed(request, settings):
        log.warning("refused a WebSocket from origin %s", request.headers.get("Origin"))
        raise web.HTTPForbidden(text="Cross-origin WebSocket refused.")
    addr = client_addr(request, settings)
    if settings.max_connections and hub.total >= settings.max_connections:
        raise web.HTTPServiceUnavailable(text="The server is at its connection limit.")
    if settings.max_connections_per_ip and hub.per_addr[addr] >= settings.max_connections_per_ip:
        raise web.HTTPTooManyRequests(text="Too many connections from your address.")
    try:
        raw_user = request.query.get("user", "")
        user = protocol.clean_user(raw_user) if raw_user.strip() else protocol.DEFAULT_USER
    except ProtocolError as exc:
        raise web.HTTPBadRequest(text=exc.detail) from None
    after = int_param(request, "after")

    ws = web.WebSocketResponse(
        heartbeat=settings.heartbeat or None,
        max_msg_size=MAX_FRAME,
        compress=False,  # permessage-deflate costs CPU per client and opens compression attacks
        # We answer close frames ourselves: after a server-initiated close (sent by the
        # hub, see Client._close_ws) aiohttp would otherwise send a second close frame,
        # which Chromium treats as a protocol error (close code 1006 instead of ours).
        autoclose=False,
    )
    if not ws.can_prepare(request).ok:
        raise web.HTTPBadRequest(text="This URL only speaks WebSocket.")
    await ws.prepare(request)

    client = Client(ws, request, room, user, addr, settings.send_queue)
    log.debug("%r connected (after=%s)", client, after)
    hub.join(client)
    try:
        if after is not None:
            await _backfill(request, client, after)
        client.start()
        await _receive(request, client)
        if not client.closing and not ws.closed:
            await ws.close()  # the peer's close: answer it (ours is finished by the hub)
    finally:
        client.reading_stopped()
        hub.leave(client)
        await client.stop()
        log.debug("%r disconnected (%s)", client, ws.close_code)
    return ws


async def _backfill(request: web.Request, client: Client, after: int) -> None:
    """Send every stored message after ``after``; live ones wait in the queue meanwhile.

    The client joined the hub before the first read, so anything committed later is in
    its queue; ``skip_upto`` drops what the reads already covered: no gap, no duplicate.
    """
    store = request.app[STORE]
    last = after
    while True:
        messages, more = await store.after(client.room, last, BACKFILL_PAGE)
        for m in messages:
            await client.ws.send_str(m.frame_text())
        if messages:
            last = messages[-1].id
        if not more:
            break
    client.skip_upto = client.last_sent_id = last


def _on_stored(client: Client, slots: asyncio.Semaphore, client_id: str | None,
               future: asyncio.Future[Stored]) -> None:
    slots.release()
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        if not isinstance(exc, NotStored):
            log.error("%r: storing failed", client, exc_info=exc)
        client.send(_error("not_stored", client_id))
    elif future.result().duplicate:
        client.send(future.result().text)


async def _receive(request: web.Request, client: Client) -> None:
    settings = request.app[SETTINGS]
    hub = request.app[HUB]
    writer = request.app[WRITER]
    ws = client.ws
    # No buckets until needed: most sockets never type, and msg_rate 0 means no limit.
    bucket = TokenBucket(settings.msg_rate, settings.msg_burst) if settings.msg_rate > 0 else None
    typing: TokenBucket | None = None
    strikes_allowed = max(2 * settings.msg_burst, 20)
    strikes = 0
    slots = asyncio.Semaphore(IN_FLIGHT)
    async for msg in ws:
        if client.closing:
            continue  # we sent our close: read on until the peer's answer, ignore the rest
        if msg.type == WSMsgType.BINARY:
            client.send(_error("binary_not_supported"))
            continue
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            frame = protocol.parse(msg.data, client.user)
        except ProtocolError as exc:
            client.send(dumps(exc.frame()))
            continue
        if isinstance(frame, protocol.TypingIn):
            if typing is None:
                typing = TokenBucket(1 / TYPING_INTERVAL, 1)
            if typing.allow():
                hub.broadcast(client.room, dumps({"type": "typing", "user": client.user,
                                                  "room": client.room}), exclude=client)
            continue
        if client.room in hub.locked:
            client.send(_error("room_locked", frame.client_id))
            continue
        if bucket is not None and not bucket.allow():
            strikes += 1
            client.send(_error("rate_limited", frame.client_id))
            if strikes > strikes_allowed:
                log.warning("%r kept flooding; closing it", client)
                client.close(WSCloseCode.POLICY_VIOLATION, b"rate limit exceeded")
            continue
        strikes = 0
        await slots.acquire()
        try:
            future = writer.submit(client.room, frame.user, frame.message, frame.client_id)
        except WriterClosed:
            slots.release()
            client.send(_error("shutting_down", frame.client_id))
            continue
        future.add_done_callback(functools.partial(_on_stored, client, slots, frame.client_id))
