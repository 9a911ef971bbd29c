"""Fixtures: the real app from the factory, each test with its own SQLite file."""

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

TIMEOUT = 5.0

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Rate limits off unless a test turns them on: most tests send faster than a person.
    return Settings(db=str(tmp_path / "chat.db"), msg_rate=0, address_rate=0, search_rate=0, room_rate=0,
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
    sqlite3 shell would (in a thread, so the app keeps serving)."""
    return await asyncio.to_thread(_execute, db, sql, params)
