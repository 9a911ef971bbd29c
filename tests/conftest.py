"""Fixtures: the real app from the factory, each test with its own SQLite file, or its own
PostgreSQL database when ``CHATAPP_TEST_BACKEND=postgres`` (``make test-postgres``; see tests/pg.py)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from chatapp.app import create_app
from chatapp.settings import Settings

from .pg import ON_POSTGRES, database_for, pg_execute, postgres, postgres_url_for

__all__ = ["postgres"]  # the session's PostgreSQL server, a fixture for the tests that need one

TIMEOUT = 5.0

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests of the SQLite file itself (pragmas, its backup, the sqlite3 shell) say so with
    # @pytest.mark.sqlite_only(reason=...); on PostgreSQL they are skipped with that reason.
    if ON_POSTGRES:
        for item in items:
            marker = item.get_closest_marker("sqlite_only")
            if marker is not None:
                item.add_marker(pytest.mark.skip(reason="SQLite only: " + marker.kwargs.get("reason", "")))


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Settings:
    db = str(tmp_path / "chat.db")
    database_url = ""
    if ON_POSTGRES:  # the same test on a fresh PostgreSQL database, for the app and the CLI alike
        database_url = database_for(request, db)
        monkeypatch.setenv("CHATAPP_DATABASE_URL", database_url)
    # Rate limits off unless a test turns them on: most tests send faster than a person.
    return Settings(db=db, database_url=database_url, msg_rate=0, address_rate=0, search_rate=0, room_rate=0,
                    max_connections_per_ip=0,
                    heartbeat=0, admin_password="correct horse battery staple")


@pytest.fixture
async def make_client(aiohttp_client: Any, settings: Settings) -> MakeClient:
    async def make(**overrides: Any) -> TestClient[Any, Any]:
        return await aiohttp_client(create_app(settings.replace(**overrides)))
    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    return await make_client()


async def recv(ws: ClientWebSocketResponse, *, skip: tuple[str, ...] = ("presence", "typing"),
               timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next frame, skipping the chatter (presence, typing) a test does not ask about."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type != WSMsgType.TEXT:
                raise AssertionError(f"expected a text frame, got {msg.type} {msg.data!r} {msg.extra!r}")
            frame: dict[str, Any] = json.loads(msg.data)
            if frame.get("type") not in skip:
                return frame


async def whole_history(client: TestClient[Any, Any], room: str, after: int = 0) -> list[dict[str, Any]]:
    """Every message of ``room`` after ``after``, oldest first, read through the history API a
    page at a time (as a script would; one page holds at most 200)."""
    messages: list[dict[str, Any]] = []
    while True:
        page = await (await client.get(f"/api/rooms/{room}/messages",
                                       params={"after": after, "limit": 200})).json()
        messages += page["messages"]
        if not page["has_more"]:
            return messages
        after = messages[-1]["id"]


async def recv_type(ws: ClientWebSocketResponse, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = await recv(ws, skip=(), timeout=timeout)
            if frame.get("type") == kind:
                return frame


async def recv_chats(ws: ClientWebSocketResponse, n: int, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
    frames = []
    async with asyncio.timeout(timeout):
        while len(frames) < n:
            frame = await recv(ws, timeout=timeout)
            assert frame["type"] == "chat", frame
            frames.append(frame)
    return frames


async def closed(ws: ClientWebSocketResponse, timeout: float = TIMEOUT) -> int | None:
    """Read until the server closes; return its close code."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
                return ws.close_code


@pytest.fixture
def ws_connect(client: TestClient[Any, Any]) -> Callable[..., Awaitable[ClientWebSocketResponse]]:
    async def connect(room: str = "lobby", **params: Any) -> ClientWebSocketResponse:
        query = {k: str(v) for k, v in params.items()}
        return await client.ws_connect(f"/ws/{room}", params=query)
    return connect


def _execute(db: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def db_execute(db: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the database file from outside the app, as an operator's
    sqlite3 shell would (in a thread, so the app keeps serving); on PostgreSQL, on the
    test's database, as psql would (``?`` placeholders become ``$1``…)."""
    url = postgres_url_for(db)
    if url is not None:
        return await pg_execute(url, sql, params)
    return await asyncio.to_thread(_execute, db, sql, params)
