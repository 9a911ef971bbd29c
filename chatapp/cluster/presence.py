"""Presence and typing across the nodes of a cluster, over Redis: what may be lost.

Chat never goes through Redis (the log in PostgreSQL carries it, see
:mod:`chatapp.cluster.follower`); only who is here and who is typing do. Each node keeps
one hash, ``chatapp:presence:<node>``, holding for each of its rooms the names with a
socket there (and which are guests'), rewritten every :data:`REFRESH` seconds with a TTL of
:data:`TTL`; a node that stops refreshing (killed, cut off) drops out when its hash expires.
Changes between refreshes go out at once on the ``chatapp:presence`` channel, typing on
``chatapp:typing``. Every node keeps the others' names in memory and the hub merges them
into the presence frames it sends (:class:`chatapp.hub.RemotePresence`).

Redis going away costs presence across nodes, never chat: every Redis call runs in this
module's own task, the hub only ever marks a room changed or queues a typing notice (both
dropped while Redis is gone), and the task reconnects with backoff, logging once. When it
is back, the node rewrites its hash and re-reads everyone else's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import secrets
import socket
import time
from collections.abc import Collection
from typing import Any

import orjson
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..hub import Hub

log = logging.getLogger(__name__)

TTL = 15.0  # seconds a node's names outlive its last refresh
REFRESH = 5.0  # seconds between a node's full rewrites of its names
BACKOFF_MIN, BACKOFF_MAX = 0.5, 5.0  # seconds between reconnection attempts
TIMEOUT = 2.0  # seconds any one Redis call may take before the connection counts as lost
TYPING_QUEUE = 256  # typing notices waiting to go out; more are dropped (they are hints)

PREFIX = "chatapp:presence:"
NODES = "chatapp:presence-nodes"  # sorted set: node -> when its names expire (Unix time)
PRESENCE_CHANNEL = "chatapp:presence"
TYPING_CHANNEL = "chatapp:typing"


@dataclasses.dataclass(frozen=True)
class _Entry:
    """One room's names on one other node."""

    seq: int  # that node's counter when it wrote them: an older update never wins
    names: frozenset[str]
    guests: frozenset[str]
    expires: float  # time.monotonic() after which it is dropped unless refreshed


def node_id(port: int | None = None) -> str:
    """A name for this process among the nodes: the host, the port, and a random part
    (a restarted node is a new node; its old entries expire on their own)."""
    host = socket.gethostname().split(".")[0]
    return f"{host}:{port or 0}:{secrets.token_hex(3)}"


class RedisPresence:
    """This node's side of presence across nodes; ``hub.remote`` once started."""

    def __init__(self, hub: Hub, url: str, node: str, *, refresh: float = REFRESH, ttl: float = TTL) -> None:
        self.hub = hub
        self.url = url
        self.node = node
        self.refresh = refresh
        self.ttl = ttl
        self.connected = False
        self._remote: dict[str, dict[str, _Entry]] = {}  # room -> node -> names
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._typing: asyncio.Queue[tuple[str, str]] = asyncio.Queue(TYPING_QUEUE)
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        self._outage = False  # logged that Redis is gone; the next success says it is back
        self._session_ok = False
        self.connected_at: float | None = None

    # ---- what the hub calls: never waits, never touches Redis ----------------------------

    def merged(self, room: str, names: Collection[str],
               guests: Collection[str]) -> tuple[Collection[str], Collection[str]]:
        others = self._remote.get(room)
        if not others:
            return names, guests
        all_names, all_guests = set(names), set(guests)
        for entry in others.values():
            all_names |= entry.names
            all_guests |= entry.guests
        return all_names, all_guests

    def local_changed(self, room: str) -> None:
        self._dirty.add(room)
        self._wake.set()

    def typing(self, room: str, user: str) -> None:
        if self.connected and not self._typing.full():
            self._typing.put_nowait((room, user))

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.hub.remote = self
        self._task = asyncio.create_task(self._supervise(), name="chatapp-redis-presence")

    async def close(self) -> None:
        """Stop, and leave at once: the other nodes need not wait for our TTL to run out."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.hub.remote = None
        if self.connected_at is None:
            return
        client = self._client()
        try:
            async with asyncio.timeout(TIMEOUT):
                async with client.pipeline(transaction=True) as pipe:
                    pipe.delete(PREFIX + self.node)
                    pipe.zrem(NODES, self.node)
                    pipe.publish(PRESENCE_CHANNEL, orjson.dumps({"node": self.node, "gone": True}))
                    await pipe.execute()
        except (RedisError, OSError, TimeoutError):
            pass  # gone anyway once the TTL runs out
        finally:
            await client.aclose()

    def _client(self) -> redis.Redis:
        # No retries inside redis-py: a failed call ends the session, and _supervise decides.
        return redis.from_url(self.url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT,
                              retry=Retry(NoBackoff(), 0))

    async def _supervise(self) -> None:
        backoff = BACKOFF_MIN
        while True:
            client = self._client()
            try:
                await self._session(client)
            except* (RedisError, OSError, TimeoutError) as group:
                if not self._outage:
                    self._outage = True
                    log.warning("Redis unavailable (%s): presence is per node until it returns",
                                group.exceptions[0])
            except* Exception:  # a bug here must not end presence for good
                log.exception("presence over Redis failed")
            finally:
                self.connected = False
                await client.aclose()
            if self._session_ok:
                self._session_ok = False
                backoff = BACKOFF_MIN  # it worked for a while: this outage starts afresh
            self._expire()
            await asyncio.sleep(backoff)  # a reconnection interval, not a wait for an event
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _session(self, client: redis.Redis) -> None:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            # Subscribed before the first read: nothing said after the snapshot is missed.
            await pubsub.subscribe(PRESENCE_CHANNEL, TYPING_CHANNEL)
            await self._write_all(client)
            await self._snapshot(client)
            if self._outage:
                self._outage = False
                log.warning("Redis is back: presence across nodes again")
            self.connected = True
            self._session_ok = True
            self.connected_at = time.monotonic()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._listen(pubsub))
                tasks.create_task(self._publish(client))
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    # ---- writing this node's names -------------------------------------------------------------

    def _local(self, room: str) -> dict[str, Any]:
        names, guests = self.hub.local_names(room)
        self._seq += 1
        return {"seq": self._seq, "names": names, "guests": guests}

    async def _write_all(self, client: redis.Redis) -> None:
        """Rewrite this node's whole hash, and say it is alive until the TTL runs out."""
        self._dirty.clear()
        entries = {room: self._local(room) for room in list(self.hub.rooms)}
        key = PREFIX + self.node
        async with client.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            mapping = {room: orjson.dumps(e) for room, e in entries.items() if e["names"]}
            if mapping:
                pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            pipe.expire(key, math.ceil(self.ttl))
            pipe.zadd(NODES, {self.node: time.time() + self.ttl})
            pipe.zremrangebyscore(NODES, "-inf", time.time())
            await pipe.execute()

    async def _write_dirty(self, client: redis.Redis) -> None:
        rooms, self._dirty = self._dirty, set()
        key = PREFIX + self.node
        async with client.pipeline(transaction=True) as pipe:
            for room in rooms:
                entry = self._local(room)
                if entry["names"]:
                    pipe.hset(key, room, orjson.dumps(entry))
                else:
                    pipe.hdel(key, room)
                pipe.publish(PRESENCE_CHANNEL, orjson.dumps({"node": self.node, "room": room, "entry": entry}))
            await pipe.execute()

    async def _publish(self, client: redis.Redis) -> None:
        """Send changed rooms as they change, typing as it comes, everything every REFRESH s."""
        next_refresh = time.monotonic() + self.refresh
        typing = asyncio.ensure_future(self._typing.get())
        try:
            while True:
                wake = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait([wake, typing], timeout=max(0.0, next_refresh - time.monotonic()),
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    wake.cancel()
                self._wake.clear()
                async with asyncio.timeout(TIMEOUT * 2):
                    if typing.done():
                        room, user = typing.result()
                        typing = asyncio.ensure_future(self._typing.get())
                        await client.publish(TYPING_CHANNEL, orjson.dumps(
                            {"node": self.node, "room": room, "user": user}))
                    if self._dirty:
                        await self._write_dirty(client)
                    if time.monotonic() >= next_refresh:
                        next_refresh = time.monotonic() + self.refresh
                        await self._write_all(client)
                        await self._snapshot(client)
        finally:
            typing.cancel()

    # ---- reading the other nodes' names ----------------------------------------------------

    async def _snapshot(self, client: redis.Redis) -> None:
        """Re-read every live node's names: the source of truth the channel only speeds up."""
        found = await client.zrangebyscore(NODES, time.time(), "+inf")
        nodes = [n.decode() for n in found if isinstance(n, bytes)]
        others = [n for n in nodes if n != self.node]
        async with client.pipeline(transaction=False) as pipe:
            for node in others:
                pipe.hgetall(PREFIX + node)
            hashes: list[dict[bytes, bytes]] = await pipe.execute() if others else []
        expires = time.monotonic() + self.ttl
        seen: dict[str, dict[str, _Entry]] = {}
        for node, rooms in zip(others, hashes, strict=True):
            for raw_room, raw in rooms.items():
                entry = _entry(orjson.loads(raw), expires)
                if entry is not None:
                    seen.setdefault(raw_room.decode(), {})[node] = entry
        changed = set(self._remote) | set(seen)
        for room in changed:
            before = self._remote.get(room, {})
            after = seen.get(room, {})
            for node, entry in before.items():  # an update newer than what we just read stays
                if node in after and after[node].seq < entry.seq:
                    after[node] = dataclasses.replace(entry, expires=expires)
            if after:
                self._remote[room] = after
            else:
                self._remote.pop(room, None)
            if _names_of(before) != _names_of(after):
                self._changed(room)

    async def _listen(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message(timeout=self.refresh)
            if message is None or message.get("type") != "message":
                continue
            try:
                data = orjson.loads(message["data"])
            except orjson.JSONDecodeError:
                continue
            if not isinstance(data, dict) or data.get("node") == self.node:
                continue
            if message["channel"] == TYPING_CHANNEL.encode():
                self._typed(data)
            else:
                self._update(data)

    def _typed(self, data: dict[str, Any]) -> None:
        room, user = data.get("room"), data.get("user")
        if isinstance(room, str) and isinstance(user, str) and room in self.hub.rooms:
            self.hub.broadcast(room, orjson.dumps({"type": "typing", "user": user, "room": room}).decode())

    def _update(self, data: dict[str, Any]) -> None:
        node = str(data.get("node"))
        if data.get("gone"):
            for room in [r for r, nodes in self._remote.items() if node in nodes]:
                self._drop(room, node)
            return
        where = data.get("room")
        entry = _entry(data.get("entry"), time.monotonic() + self.ttl)
        if not isinstance(where, str) or entry is None:
            return
        nodes = self._remote.setdefault(where, {})
        old = nodes.get(node)
        if old is not None and old.seq >= entry.seq:
            return
        # Kept even when empty, until it expires: its seq stops an older update winning.
        nodes[node] = entry
        before = (old.names, old.guests) if old is not None else (frozenset(), frozenset())
        if before != (entry.names, entry.guests):
            self._changed(where)

    def _drop(self, room: str, node: str) -> None:
        nodes = self._remote.get(room, {})
        if nodes.pop(node, None) is not None:
            if not nodes:
                self._remote.pop(room, None)
            self._changed(room)

    def _expire(self) -> None:
        """Forget names not refreshed within the TTL (their node, or Redis, is gone)."""
        now = time.monotonic()
        for room, nodes in list(self._remote.items()):
            for node, entry in list(nodes.items()):
                if entry.expires <= now:
                    self._drop(room, node)

    def _changed(self, room: str) -> None:
        if room in self.hub.rooms:
            self.hub.presence_changed(room)


def _entry(raw: Any, expires: float) -> _Entry | None:
    if not isinstance(raw, dict):
        return None
    names, guests, seq = raw.get("names"), raw.get("guests"), raw.get("seq")
    if not (isinstance(names, list) and isinstance(guests, list) and isinstance(seq, int)):
        return None
    return _Entry(seq, frozenset(n for n in names if isinstance(n, str)),
                  frozenset(g for g in guests if isinstance(g, str)), expires)


def _names_of(nodes: dict[str, _Entry]) -> set[tuple[str, frozenset[str], frozenset[str]]]:
    return {(node, e.names, e.guests) for node, e in nodes.items()}
