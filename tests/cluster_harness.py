"""The cluster tests' harness: real PostgreSQL and Redis, and chatapp nodes as processes.

:class:`Cluster` starts 2-3 ``python -m chatapp`` processes (:class:`tests.server.ServerProcess`)
on one PostgreSQL database (a fresh copy of the migrated template, from :mod:`tests.pg`) and,
if given, one Redis (:class:`chatapp.cluster.services.Redis`), sharing one session secret as a
real cluster's nodes do. :class:`Receiver` records every frame a socket gets and lets a test
wait, with a timeout, until what it expects has arrived.

Run as ``python -m tests.cluster_harness`` it is a chatapp node whose PostgreSQL storage has
the shard lock turned off (``PostgresStorage.open(shard_lock=False)``): only for the test
that shows what the lock prevents.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from .pg import NOT_INSTALLED, ON_POSTGRES, postgres_bin
from .server import UNLIMITED, ServerProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
ADMIN_PASSWORD = "cluster admin password"
TIMEOUT = 30.0


def engines_missing() -> str | None:
    """Why the cluster tests cannot run here, or None."""
    if postgres_bin() is None:
        return NOT_INSTALLED
    if shutil.which("redis-server") is None:
        return "redis-server not installed (apt-get install redis-server)"
    return None


def need_engines() -> None:
    """Skip saying why when PostgreSQL or Redis is missing; under CI that is a failure."""
    if ON_POSTGRES:  # the same tests, the same engines: once is enough
        pytest.skip("the cluster tests start their own PostgreSQL; they run in the SQLite pass")
    reason = engines_missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the cluster tests: {reason}")
    pytest.skip(reason)


class Node(ServerProcess):
    """One chatapp node, its own log; ``number`` counts from 1."""

    number = 0

    def ws_url(self, room: str, **params: Any) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"ws://127.0.0.1:{self.port}/ws/{room}" + (f"?{query}" if query else "")


class Cluster:
    """Nodes on one database (and one Redis, if given); started and stopped by the test."""

    def __init__(self, tmp: Path, database_url: str, redis_url: str | None = None, *, nodes: int = 2,
                 unordered: bool = False, env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.database_url = database_url
        self.redis_url = redis_url
        self.env = {
            **UNLIMITED,
            "CHATAPP_DATABASE_URL": database_url,
            "CHATAPP_SECRET": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "CHATAPP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "CHATAPP_LOG_LEVEL": "INFO",
            **({"CHATAPP_REDIS_URL": redis_url} if redis_url else {}),
            **(env or {}),
        }
        module = "tests.cluster_harness" if unordered else "chatapp"
        self.nodes = [self._node(i + 1, module) for i in range(nodes)]

    def _node(self, number: int, module: str) -> Node:
        port = free_port()
        db = self.tmp / f"node{number}.db"  # unused with database_url, but a path keeps files out of cwd
        node = Node([sys.executable, "-m", module, "--port", str(port), "--db", str(db)], port=port,
                    env=self.env, cwd=ROOT, name=f"node{number}", log_path=self.tmp / f"node{number}.log")
        node.number = number
        return node

    def __getitem__(self, i: int) -> Node:
        return self.nodes[i]

    async def start(self) -> None:
        for node in self.nodes:  # in turn: the first applies any migration, the others find it done
            await node.astart()

    async def stop(self) -> list[int]:
        return list(await asyncio.gather(*(n.astop() for n in self.nodes if n.proc is not None)))

    def logs(self) -> str:
        return "\n".join(f"---- {n.name}\n{n.log(40)}" for n in self.nodes)

    async def rows(self, room: str) -> list[tuple[int, str | None]]:
        """(id, client_id) of the room's messages, by id, as the database has them."""
        conn = await asyncpg.connect(self.database_url)
        try:
            found = await conn.fetch("SELECT id, client_id FROM messages WHERE room = $1 ORDER BY id", room)
        finally:
            await conn.close()
        return [(int(r[0]), r[1]) for r in found]

    async def sql(self, query: str, *args: Any) -> list[Any]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()


class Receiver:
    """Every frame one socket gets, recorded by a task of its own; wait for what you expect."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, name: str = "") -> None:
        self.ws = ws
        self.name = name
        self.frames: list[dict[str, Any]] = []
        self.closed = False
        self.close_code: int | None = None
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, node: Node, room: str, name: str = "",
                      **params: Any) -> Receiver:
        if name:
            params.setdefault("user", name)
        ws = await session.ws_connect(node.ws_url(room, **params), autoping=True)
        return cls(ws, name or f"{node.name}/{room}")

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.frames.append(json.loads(msg.data))
                    self._changed.set()
        finally:
            self.closed = True
            self.close_code = self.ws.close_code
            self._changed.set()

    @property
    def chats(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "chat"]

    @property
    def chat_ids(self) -> list[int]:
        return [f["id"] for f in self.chats]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == kind]

    async def wait(self, condition: Callable[[Receiver], bool], timeout: float = TIMEOUT,
                   what: str = "") -> None:
        """Until ``condition(self)`` holds; on timeout, fail saying what did not arrive."""
        try:
            async with asyncio.timeout(timeout):
                while not condition(self):
                    if self.closed:
                        raise AssertionError(f"{self.name}: closed ({self.close_code}) before {what or condition}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"{self.name}: no {what or condition} within {timeout} s; "
                                 f"last frames {self.frames[-3:]}") from None

    async def wait_closed(self, timeout: float = TIMEOUT) -> int | None:
        async with asyncio.timeout(timeout):
            await self._task
        return self.close_code

    async def send(self, message: str, client_id: str | None = None, **extra: Any) -> None:
        frame: dict[str, Any] = {"message": message, **extra}
        if client_id is not None:
            frame["client_id"] = client_id
        await self.ws.send_json(frame)

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._task, return_exceptions=True)


def ordered_problems(receiver: Receiver, expected: Sequence[int]) -> list[str]:
    """What is wrong with what ``receiver`` got, against the database's ids for its room."""
    got = receiver.chat_ids
    problems = []
    if any(b <= a for a, b in itertools.pairwise(got)):
        problems.append(f"{receiver.name}: ids not strictly increasing")
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing:
        problems.append(f"{receiver.name}: {len(missing)} stored ids never delivered, e.g. {missing[:5]}")
    if extra:
        problems.append(f"{receiver.name}: {len(extra)} ids delivered but not stored, e.g. {extra[:5]}")
    return problems


def session() -> aiohttp.ClientSession:
    """A browser-like client: it keeps cookies for 127.0.0.1, on any node's port."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


class Browser:
    """One browser (one cookie jar) talking to one node: what tests/admin_client.py and
    tests/member_client.py drive (``get`` and ``post`` with paths). A login made through
    one node works on every other, as they share the session secret and the sessions table."""

    def __init__(self, http: aiohttp.ClientSession, node: Node) -> None:
        self.http = http
        self.node = node

    def at(self, node: Node) -> Browser:
        return Browser(self.http, node)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.http.get(self.node.url + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.http.post(self.node.url + path, **kwargs)

    async def join(self, room: str, name: str = "", **params: Any) -> Receiver:
        return await Receiver.connect(self.http, self.node, room, name, **params)


def _unordered_node() -> None:
    """A chatapp node whose storage opens with the shard lock off (see the module docstring)."""
    from chatapp.cli import run
    from chatapp.storage.postgres import PostgresStorage

    opened = PostgresStorage.open.__func__  # type: ignore[attr-defined]

    async def open_unordered(cls: type[PostgresStorage], url: str, **kwargs: Any) -> PostgresStorage:
        kwargs["shard_lock"] = False
        storage: PostgresStorage = await opened(cls, url, **kwargs)
        return storage

    PostgresStorage.open = classmethod(open_unordered)  # type: ignore[method-assign, assignment]
    run()


if __name__ == "__main__":
    _unordered_node()
