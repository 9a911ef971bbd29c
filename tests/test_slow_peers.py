"""Peers that read slowly, pause or stop, through the real app: a long catch-up goes at the
reader's pace, a lagged reader hears exactly where to resume, nothing follows a close
frame, a peer that stops reading leaves in bounded time, and one that answers pings stays."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from chatapp.hub import Client, Hub
from chatapp.keys import HUB, WRITER

from .conftest import MakeClient, recv_chats, recv_type, whole_history
from .rawws import FrameReader, encode_frame, raw_connect

BODY = "z" * 3990  # ~4 KB a message (with its number, under the 4,000 limit), as in the report


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a cheap in-process condition with a deadline (the hub has no event for it)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def store(client: TestClient[Any, Any], room: str, n: int) -> list[int]:
    """``n`` messages stored through the app's own writer (quicker than a socket)."""
    writer = client.app[WRITER]
    futures = [writer.submit(room, "bulk", f"{i}:{BODY}", None) for i in range(n)]
    return [s.message.id for s in await asyncio.gather(*futures)]


def member(hub: Hub, room: str, user: str) -> Client:
    return next(c for c in hub.rooms.get(room, ()) if c.user == user)


async def presence_until(ws: ClientWebSocketResponse, users: list[str], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while (await recv_type(ws, "presence", timeout=timeout))["users"] != users:
            pass


class Talker:
    """A well-behaved peer that keeps reading what the room sends it."""

    def __init__(self, ws: ClientWebSocketResponse, user: str) -> None:
        self.ws = ws
        self.user = user
        self.own_ids: list[int] = []  # its own messages, as they came back
        self.here: list[str] = []  # the last presence list it was sent

    async def say(self, n: int, body: str = "") -> list[int]:
        """Send ``n`` messages; their ids, once they came back (so stored and broadcast).
        Only its own count: on PostgreSQL the log follower may still be handing the room
        messages stored before this peer joined."""
        start = len(self.own_ids)
        for j in range(n):
            await self.ws.send_json({"message": f"{start + j}:{body}"})
        await wait_until(lambda: len(self.own_ids) >= start + n, timeout=30)
        return self.own_ids[start:start + n]

    async def keep_reading(self) -> None:
        async for msg in self.ws:
            if msg.type != WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            if frame["type"] == "chat" and frame["user"] == self.user:
                self.own_ids.append(frame["id"])
            elif frame["type"] == "presence":
                self.here = frame["users"]


@contextlib.asynccontextmanager
async def talker(client: TestClient[Any, Any], room: str, user: str = "talker") -> AsyncIterator[Talker]:
    talker = Talker(await client.ws_connect(f"/ws/{room}", params={"user": user}), user)
    reading = asyncio.create_task(talker.keep_reading())
    try:
        yield talker
    finally:
        reading.cancel()
        await talker.ws.close()


async def resume_gets_the_rest_once(client: TestClient[Any, Any], room: str, after: int) -> None:
    """Reconnecting with ``after`` brings every later message, each once, in order."""
    missed = [m["id"] for m in await whole_history(client, room, after)]
    again = await client.ws_connect(f"/ws/{room}", params={"after": str(after)})
    assert [f["id"] for f in await recv_chats(again, len(missed), timeout=30)] == missed
    await again.close()


async def test_a_reader_that_pauses_during_its_catch_up_gets_everything_once_and_stays(
        make_client: MakeClient) -> None:
    # The pause lasts as long as the test needs; the heartbeat (and with it the stall timeout)
    # is set longer than every wait below, so a loaded machine does not turn it into a drop.
    client = await make_client(send_queue=600, heartbeat=180)
    hub = client.app[HUB]
    backlog = await store(client, "catchup", 2500)
    reader, writer, status = await raw_connect(client.host, client.port, "/ws/catchup?after=0&user=slow",
                                               rcvbuf=4096)
    try:
        assert status == 101
        slow = FrameReader(reader)
        async with talker(client, "catchup") as talk:
            await wait_until(lambda: hub.connections("catchup") == 2)
            live = await talk.say(700)  # more than its send queue holds, while it is not reading
            # Still catching up: the live messages were left to the backfill, not queued.
            # On PostgreSQL the live frames come through the log follower: give it as long as the read.
            await wait_until(lambda: member(hub, "catchup", "slow").out.live_head == live[-1], timeout=60)
            await slow.read_until(lambda r: len(r.chat_ids) >= 3200, timeout=60)
        assert slow.after_close == 0, f"{slow.after_close} bytes after the close frame"
        assert [f for f in slow.texts if f["type"] == "lagged"] == []
        assert slow.chat_ids == backlog + live
        assert slow.close_code is None and not member(hub, "catchup", "slow").out.closing
    finally:
        writer.close()


async def test_a_lagged_reader_hears_where_to_resume_and_nothing_follows_the_close(
        make_client: MakeClient) -> None:
    client = await make_client(send_queue=600)
    hub = client.app[HUB]
    await store(client, "lag", 300)
    reader, writer, _ = await raw_connect(client.host, client.port, "/ws/lag?after=0&user=slow", rcvbuf=4096)
    slow = FrameReader(reader)
    await slow.read_until(lambda r: len(r.chat_ids) >= 300, timeout=20)  # caught up, then stops
    out = member(hub, "lag", "slow").out
    async with talker(client, "lag") as talk:
        for _ in range(100):
            await talk.say(100, BODY)
            if out.closing:
                break
        assert out.closing
        await slow.read_to_end(timeout=20)  # it reads again, just too late
    assert slow.after_close == 0, f"{slow.after_close} bytes after the close frame"
    assert slow.close_code == 1008 and slow.ended
    assert slow.texts[-1] == {"type": "lagged", "resume_after": slow.chat_ids[-1]}
    writer.close()
    await resume_gets_the_rest_once(client, "lag", slow.chat_ids[-1])


async def test_a_reader_that_stops_for_good_during_its_catch_up_is_dropped_and_resumes_without_a_gap(
        make_client: MakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chatapp.ws.STALL_TIMEOUT", 1.0)  # heartbeat off: the stall timeout alone
    client = await make_client(send_queue=600, heartbeat=0)
    hub = client.app[HUB]
    await store(client, "gone", 2500)
    reader, writer, _ = await raw_connect(client.host, client.port, "/ws/gone?after=0&user=slow", rcvbuf=4096)
    async with talker(client, "gone") as talk:
        await wait_until(lambda: hub.connections("gone") == 2)
        await talk.say(700)
        await wait_until(lambda: hub.connections("gone") == 1, timeout=10)
    slow = FrameReader(reader)
    await slow.read_to_end(timeout=20)
    assert slow.after_close == 0
    last_seen = slow.chat_ids[-1] if slow.chat_ids else 0
    for lagged in (f for f in slow.texts if f["type"] == "lagged"):
        assert lagged["resume_after"] == last_seen
    writer.close()
    await resume_gets_the_rest_once(client, "gone", last_seen)


async def test_a_peer_that_never_reads_during_a_long_catch_up_leaves_here_now_in_bounded_time(
        make_client: MakeClient) -> None:
    client = await make_client(heartbeat=1.0)
    hub = client.app[HUB]
    await store(client, "stuck", 2500)
    watcher = await client.ws_connect("/ws/stuck", params={"user": "watcher"})
    await presence_until(watcher, ["watcher"])
    reader, writer, _ = await raw_connect(client.host, client.port, "/ws/stuck?after=0&user=stuck",
                                          rcvbuf=4096)
    await presence_until(watcher, ["stuck", "watcher"])
    # A heartbeat and a half at most to notice, then the close grace: well under 10 s.
    await presence_until(watcher, ["watcher"], timeout=10)
    assert hub.connections("stuck") == 1
    slow = FrameReader(reader)
    await slow.read_to_end(timeout=10)  # and the connection itself is gone, not just the name
    assert slow.ended and slow.after_close == 0
    writer.close()


async def test_a_peer_that_stops_reading_in_a_live_room_leaves_here_now_in_bounded_time(
        make_client: MakeClient) -> None:
    client = await make_client(heartbeat=1.0, send_queue=100_000)  # it would never lag
    hub = client.app[HUB]
    reader, writer, _ = await raw_connect(client.host, client.port, "/ws/live?user=stuck", rcvbuf=4096)
    async with talker(client, "live") as talk:
        await wait_until(lambda: talk.here == ["stuck", "talker"])
        await talk.say(2000, BODY)  # far more than the kernel buffers hold
        await wait_until(lambda: talk.here == ["talker"], timeout=10)
        assert hub.connections("live") == 1
    slow = FrameReader(reader)
    await slow.read_to_end(timeout=10)
    assert slow.ended and slow.after_close == 0
    writer.close()


async def test_a_ping_from_the_peer_is_answered_with_its_payload(client: TestClient[Any, Any]) -> None:
    reader, writer, _ = await raw_connect(client.host, client.port, "/ws/lobby")
    writer.write(encode_frame(0x9, b"are you there"))
    await writer.drain()
    frames = FrameReader(reader)
    await frames.read_until(lambda r: any(op == 0xA for op, _ in r.frames))
    assert (0xA, b"are you there") in frames.frames
    writer.close()


async def test_a_peer_that_answers_every_ping_stays_connected(make_client: MakeClient) -> None:
    client = await make_client(heartbeat=0.2)
    hub = client.app[HUB]
    reader, writer, _ = await raw_connect(client.host, client.port, "/ws/hb")
    frames = FrameReader(reader)
    for _ in range(3):
        seen = len(frames.frames)
        await frames.read_until(lambda r, seen=seen: any(op == 0x9 for op, _ in r.frames[seen:]))
        ping = next(p for op, p in frames.frames[seen:] if op == 0x9)
        writer.write(encode_frame(0xA, ping))
        await writer.drain()
    assert hub.connections("hb") == 1 and frames.close_code is None and not frames.ended
    writer.close()


async def test_not_even_a_heartbeat_ping_follows_the_close_frame(make_client: MakeClient) -> None:
    client = await make_client(heartbeat=0.2, msg_rate=1, msg_burst=1)
    reader, writer, _ = await raw_connect(client.host, client.port, "/ws/flood")
    for i in range(40):  # flooding past the rate limit: closed with 1008
        writer.write(encode_frame(0x1, json.dumps({"message": f"m{i}"}).encode()))
    await writer.drain()
    frames = FrameReader(reader)
    await frames.read_to_end()  # it never answers the close; heartbeats come and go meanwhile
    assert frames.close_code == 1008
    assert frames.after_close == 0, frames.frames[-3:]
    writer.close()
