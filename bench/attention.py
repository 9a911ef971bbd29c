"""The attention scenarios (issue 14), chatapp only (the reference server has no members):

- ``sidebar``: a member whose sidebar holds 50 rooms, 40 of them with unread messages and
  10 with mentions. Room pages per second for that member, against a guest's (the same
  page without a sidebar), and socket joins with ``sidebar=1``: the time from connecting to
  the ``sidebar`` frame, against the time to the upgrade alone. One sidebar is one query
  (tests/test_attention.py proves the count); this shows what it costs.
- ``mentions``: a broadcast to a large room, first plain messages, then the same number each
  naming three members (who have pages open elsewhere, so each mention also costs its
  ``activity`` frames and one recorded row). Server CPU per message and the time to deliver
  them all, for two room sizes: mentions are resolved once per message and recorded once
  per batch, so their cost does not grow with the room.

Members are made with ``chatapp users create`` on the server's database (as an operator
would; signups from one address are rate-limited) and log in through the form. Every
message posted is in the benchmark's own format, so the database check afterwards holds.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson

from chatapp.accounts import users

from .scenarios import SETTLE, Meter, Outcome, _http_load, _percentiles, _wait
from .servers import Server
from .wsclient import CONNECT_TIMEOUT, Run, close_all, connect_many

PASSWORD = "benchmark password, long enough"
_TOKEN = re.compile(rb'name="csrf_token" value="([^"]+)"')
SIDEBAR_ROOMS = 50


# ---- members and their cookies

async def make_members(server: Server, names: list[str]) -> None:
    assert server.db is not None
    for name in names:
        await asyncio.to_thread(users.create, str(server.db), name, PASSWORD)


async def log_in(server: Server, name: str) -> str:
    """Log ``name`` in through the form; the Cookie header of its session."""
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        page = await (await http.get(f"{server.url}/login")).read()
        token = _TOKEN.search(page)
        assert token is not None, "no CSRF token on /login"
        response = await http.post(f"{server.url}/login", allow_redirects=False,
                                   data={"name": name, "password": PASSWORD, "csrf_token": token.group(1).decode()})
        assert response.status == 303, f"login of {name} failed: {response.status}"
        # A browser keeps the cookie each page sends back: the first page with a form adds
        # the CSRF token to it. Without this, every measured page would make a token and
        # re-encrypt the cookie, which a browser's pages after the first never do.
        await (await http.get(f"{server.url}/account")).read()
        return "; ".join(f"{c.key}={c.value}" for c in jar)


async def names_known(server: Server, name: str, timeout: float = 20.0) -> None:
    """Until the server guards ``name`` (members made by another process are picked up within
    seconds): a guest's handshake under it is then refused. Mentions resolve from then on."""
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(timeout):
            while True:
                response = await http.get(f"{server.url}/ws/probe", params={"user": name},
                                          headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                                   "Sec-WebSocket-Version": "13",
                                                   "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()})
                if response.status == 400:
                    return
                response.close()
                await asyncio.sleep(0.25)  # a poll: the server's refresh has no event to wait on


class Poster:
    """Posts messages in the benchmark's format (``~idx~seq~ns~text``, client_id ``idx.seq``),
    over one socket, and keeps what it sent for the database check."""

    def __init__(self, server: Server, idx: int, cookie: str = "") -> None:
        self.server = server
        self.idx = idx
        self.cookie = cookie
        self.seq = 0
        self.sent: list[tuple[str, str]] = []

    def _headers(self) -> dict[str, str]:
        return {"Cookie": self.cookie} if self.cookie else {}

    async def post(self, room: str, texts: list[str], replies: Sequence[int | None] = ()) -> list[int]:
        """Post ``texts`` (the i-th answering message ``replies[i]``, if given); their ids."""
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{self.server.url}/ws/{room}",
                                                                    headers=self._headers()) as ws:
            ids = []
            for i, text in enumerate(texts):
                client_id = f"{self.idx}.{self.seq}"
                frame: dict[str, Any] = {"message": f"~{self.idx}~{self.seq}~0~{text}", "client_id": client_id}
                if i < len(replies) and replies[i] is not None:
                    frame["reply_to"] = replies[i]
                await ws.send_str(orjson.dumps(frame).decode())
                ids.append(client_id)
                self.sent.append((room, client_id))
                self.seq += 1
            stored: dict[str, int] = {}
            async with asyncio.timeout(30):
                while len(stored) < len(ids):
                    got = orjson.loads((await ws.receive()).data)
                    if got.get("type") == "chat" and got.get("client_id") in ids:
                        stored[got["client_id"]] = got["id"]
                    elif got.get("type") == "error":
                        raise AssertionError(f"posting failed: {got}")
            return [stored[c] for c in ids]

    async def react(self, room: str, reactions: Sequence[tuple[int, str]]) -> None:
        """Add each (message id, emoji) as this member, one after another."""
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{self.server.url}/ws/{room}",
                                                                    headers=self._headers()) as ws:
            for message_id, emoji in reactions:
                await ws.send_str(orjson.dumps({"type": "react", "id": message_id, "emoji": emoji}).decode())
                async with asyncio.timeout(30):
                    while True:
                        got = orjson.loads((await ws.receive()).data)
                        if got.get("type") == "reactions" and got.get("id") == message_id:
                            break
                        if got.get("type") == "error":
                            raise AssertionError(f"reacting failed: {got}")


# ---- sidebar: room pages and socket joins for a member with 50 rooms

class _Join(asyncio.Protocol):
    """One handshake with the member's cookie: times the upgrade and the ``sidebar`` frame."""

    def __init__(self, port: int, path: str, cookie: str) -> None:
        self.request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                        f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n").encode()
        loop = asyncio.get_running_loop()
        self.upgraded: asyncio.Future[int] = loop.create_future()
        self.sidebar: asyncio.Future[int] = loop.create_future()
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        self.buf += data
        if not self.upgraded.done() and b"\r\n\r\n" in self.buf:
            status = self.buf.split(b"\r\n", 1)[0]
            if b" 101 " not in status:
                self.upgraded.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            self.upgraded.set_result(now)
        if not self.sidebar.done() and b'"type":"sidebar"' in self.buf:
            self.sidebar.set_result(now)

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        for f in (self.upgraded, self.sidebar):
            if not f.done():
                if self.closing:
                    f.cancel()  # closed on purpose: nobody waits for it any more
                else:
                    f.set_exception(ConnectionError(f"lost: {exc}"))


async def _joins(server: Server, cookie: str, with_sidebar: bool, duration: float,
                 concurrency: int = 8) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    path = "/ws/room-0" + ("?sidebar=1" if with_sidebar else "")
    latencies: list[int] = []
    until = time.monotonic() + duration

    async def worker() -> None:
        while time.monotonic() < until:
            join = _Join(server.port, path, cookie)
            start = time.perf_counter_ns()
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await loop.create_connection(lambda join=join: join, "127.0.0.1", server.port)  # type: ignore[misc]
                done = await (join.sidebar if with_sidebar else join.upgraded)
            latencies.append(done - start)
            join.close()

    meter = Meter(server)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu = meter.stop()
    return {"joins": len(latencies), "per_s": round(len(latencies) / cpu["wall_s"]), **_percentiles(latencies), **cpu}


async def sidebar(server: Server, *, duration: float = 5.0, rooms: int = SIDEBAR_ROOMS) -> Outcome:
    await make_members(server, ["bench", "solo"])
    cookie = await log_in(server, "bench")
    solo = await log_in(server, "solo")  # a member whose sidebar is this one room: the baseline
    member = Poster(server, 0, cookie)
    guest = Poster(server, 1)
    problems: list[str] = []
    await fill_sidebar(member, guest, rooms)
    await asyncio.sleep(SETTLE)
    member_pages, clients = await _http_load(server, _cycle("/rooms/room-0"), duration, 16, cookie=cookie)
    problems += sidebar_problems(clients, rooms)
    guest_pages, _ = await _http_load(server, _cycle("/rooms/room-0"), duration, 16)
    solo_pages, _ = await _http_load(server, _cycle("/rooms/room-0"), duration, 16, cookie=solo)
    with_sidebar = await _joins(server, cookie, True, duration)
    solo_joins = await _joins(server, solo, True, duration)
    without = await _joins(server, cookie, False, duration)
    for name, figures in (("member page", member_pages), ("guest page", guest_pages), ("solo page", solo_pages)):
        if figures["failed"]:
            problems.append(f"{figures['failed']} {name} requests failed")
    metrics = {
        "sidebar_rooms": rooms,
        "member_pages_per_s": member_pages["per_s"], "one_room_member_pages_per_s": solo_pages["per_s"],
        "guest_pages_per_s": guest_pages["per_s"],
        "member_page_cpu_ms": cpu_ms(member_pages),
        "one_room_member_page_cpu_ms": cpu_ms(solo_pages),
        "guest_page_cpu_ms": cpu_ms(guest_pages),
        "member_pages": member_pages["requests"], "joins": with_sidebar["joins"],  # counts, for the smoke test
        "joins_per_s": with_sidebar["per_s"], "join_p50_ms": with_sidebar.get("p50_ms"),
        "join_p95_ms": with_sidebar.get("p95_ms"),
        "upgrades_per_s": without["per_s"], "upgrade_p50_ms": without.get("p50_ms"),
        "upgrade_p95_ms": without.get("p95_ms"),
        "join_cpu_ms": round(1000 * with_sidebar["server_cpu"] / max(with_sidebar["per_s"], 1), 3),
        "one_room_join_p50_ms": solo_joins.get("p50_ms"),
        "one_room_join_cpu_ms": round(1000 * solo_joins["server_cpu"] / max(solo_joins["per_s"], 1), 3),
        "upgrade_cpu_ms": round(1000 * without["server_cpu"] / max(without["per_s"], 1), 3),
        "server_cpu": member_pages["server_cpu"],
        "generator_cpu": max(member_pages["generator_cpu"], with_sidebar["generator_cpu"]),
        "other_cpu": max(member_pages["other_cpu"], with_sidebar["other_cpu"]),
        "noisy": member_pages["noisy"] or with_sidebar["noisy"],
        "generator_saturated": member_pages["generator_saturated"] or guest_pages["generator_saturated"],
    }
    return Outcome(metrics, problems, member.sent + guest.sent)


def _cycle(path: str) -> Any:
    while True:
        yield path


async def fill_sidebar(member: Poster, guest: Poster, rooms: int) -> None:
    """Put ``room-0`` … ``room-<rooms-1>`` in the member's sidebar (by posting in each); then
    40 of them get news from a guest, 10 of those mentioning the member (named ``bench``)."""
    for i in range(rooms):  # posting puts each room in the member's sidebar, read
        await member.post(f"room-{i}", ["mine"])
    await names_known(member.server, "bench")
    for i in range(max(0, rooms - 10)):
        await guest.post(f"room-{i}", ["news", "more news", "@bench look" if i % 4 == 0 else "and more"])


def sidebar_problems(clients: list[Any], rooms: int) -> list[str]:
    """Whether the first page a member's load got listed all ``rooms`` in its sidebar."""
    body = next((c.first_body for c in clients if c.first_body), b"")
    listed = body.count(b'<li class="rooms-item') - 1  # the one in the item <template> aside
    return [] if listed == rooms else [f"the member's page listed {listed} rooms, not {rooms}"]


def cpu_ms(figures: dict[str, Any]) -> float:
    """Server CPU per request, in ms, of an :func:`_http_load` result."""
    return round(1000 * float(figures["server_cpu"]) / max(int(figures["per_s"]), 1), 3)


# ---- mentions: the broadcast cost with mentions on

class _Watcher(asyncio.Protocol):
    """A member's page in another room: counts the mention ``activity`` frames it gets."""

    def __init__(self, port: int, cookie: str) -> None:
        self.join = _Join(port, "/ws/elsewhere?sidebar=1", cookie)
        self.mentions = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.join.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.join.data_received(data)
        self.mentions += data.count(b'"mention":true')
        self.join.buf = self.join.buf[-64:]  # only the start matters to it

    def connection_lost(self, exc: Exception | None) -> None:
        self.join.connection_lost(exc)


async def _phase(server: Server, receivers: int, messages: int, text: str, clients: list[Any],
                 run: Run) -> dict[str, Any]:
    sender = clients[0]
    sender.pad = text
    before = run.delivered
    run.done.clear()
    run.expect(before + messages * receivers)
    meter = Meter(server)
    start = time.monotonic_ns()
    for _ in range(messages // 10):
        sender.send_many(10)
        await asyncio.sleep(0)  # batches of about ten, as a busy room writes them
    delivered = await _wait(run, 120.0)
    cpu = meter.stop()
    wall = (run.last_ns - start) / 1e9
    return {"delivered_all": delivered, "broadcast_s": round(wall, 3),
            "cpu_ms_per_message": round(1000 * cpu["server_cpu"] * cpu["wall_s"] / messages, 3), **cpu}


async def mentions(server: Server, *, sizes: tuple[int, ...] = (200, 1000), messages: int = 200,
                   members: int = 20) -> Outcome:
    names = [f"member{i}" for i in range(max(members, 4))]  # three are named in each message
    await make_members(server, names)
    cookies = [await log_in(server, n) for n in names]
    await names_known(server, names[-1])
    loop = asyncio.get_running_loop()
    watchers = [_Watcher(server.port, c) for c in cookies]
    for w in watchers:
        await loop.create_connection(lambda w=w: w, "127.0.0.1", server.port)  # type: ignore[misc]
        await w.join.sidebar
    problems: list[str] = []
    sent: list[tuple[str, str]] = []
    metrics: dict[str, Any] = {"messages": messages, "mentioned_per_message": 3}
    for size in sizes:
        room = f"crowd-{size}"
        run = Run()
        clients = await connect_many([(size * 10 + i, room, f"u{i}") for i in range(size)], server.port, run,
                                     concurrency=200)
        try:
            await asyncio.sleep(SETTLE)
            plain = await _phase(server, size, messages, "the plain message", clients, run)
            mentioned_before = sum(w.mentions for w in watchers)
            named = await _phase(server, size, messages, "@member1 @member2 @member3 please look", clients, run)
            problems += run.problems
            sent += [(c.room, f"{c.idx}.{seq}") for c in clients for seq in range(c.sent)]
        finally:
            await close_all(clients)
        got = sum(w.mentions for w in watchers) - mentioned_before
        async with asyncio.timeout(30):
            while got < 3 * messages:  # mention frames follow their one write a batch
                await asyncio.sleep(0.05)
                got = sum(w.mentions for w in watchers) - mentioned_before
        metrics.update({
            f"room_{size}_plain_cpu_ms": plain["cpu_ms_per_message"],
            f"room_{size}_mentions_cpu_ms": named["cpu_ms_per_message"],
            f"room_{size}_plain_broadcast_s": plain["broadcast_s"],
            f"room_{size}_mentions_broadcast_s": named["broadcast_s"],
            f"room_{size}_mention_frames": got,
        })
        for phase in (plain, named):
            if not phase["delivered_all"]:
                problems.append(f"room of {size}: not everything was delivered")
    for w in watchers:
        w.join.close()
    metrics.update({k: v for k, v in named.items() if k in ("generator_cpu", "other_cpu", "noisy",
                                                           "generator_saturated")})
    return Outcome(metrics, problems, sent)


__all__ = ["Poster", "cpu_ms", "fill_sidebar", "log_in", "make_members", "mentions", "sidebar",
           "sidebar_problems"]
