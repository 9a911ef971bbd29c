"""The real process: clean shutdown under load, crash safety, and clear start-up failures."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .server import UNLIMITED, ServerProcess

pytestmark = pytest.mark.slow

SERVER_ENV = {**UNLIMITED, "CHATAPP_LOG_LEVEL": "WARNING", "CHATAPP_ADMIN_PASSWORD": "test"}


class LoadClient:
    """Sends numbered messages, at most a few unanswered at a time, and records every frame."""

    WINDOW = 4

    def __init__(self, session: aiohttp.ClientSession, url: str, name: str) -> None:
        self.session, self.url, self.name = session, url, name
        self.received: dict[int, dict[str, Any]] = {}
        self.close_code: int | None = None
        self.ended_with: aiohttp.WSMessage | None = None  # the last non-text message, for failures
        self.enough = asyncio.Event()
        self._answered = asyncio.Semaphore(self.WINDOW)
        self._done = False

    async def run(self, room: str, count: int) -> None:
        async with self.session.ws_connect(f"{self.url}/ws/{room}", params={"user": self.name}) as ws:
            reader = asyncio.create_task(self._read(ws))
            try:
                for i in range(count):
                    await self._answered.acquire()
                    if self._done:
                        break
                    await ws.send_json({"message": f"{self.name} {i}", "client_id": f"{self.name}-{i}"})
            except (ConnectionError, RuntimeError):
                pass  # the server went away mid-send: expected here
            await reader

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            while True:
                msg = await ws.receive()
                if msg.type == aiohttp.WSMsgType.CLOSE:
                    self.close_code = msg.data  # what the server said, before any local fallout
                if msg.type != aiohttp.WSMsgType.TEXT:
                    self.ended_with = msg
                    break
                frame = json.loads(msg.data)
                if frame["type"] == "chat":
                    self.received[frame["id"]] = frame
                    if len(self.received) >= 300:
                        self.enough.set()
                if frame.get("user") == self.name or frame.get("error") == "shutting_down":
                    self._answered.release()
        finally:
            self._done = True
            self._answered.release()


def stored(db: Path) -> dict[int, tuple[str, str, str]]:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {r[0]: (r[1], r[2], r[3]) for r in conn.execute("SELECT id, room, user, body FROM messages")}
    finally:
        conn.close()


async def run_load(db: Path, sig: signal.Signals) -> tuple[list[LoadClient], int, dict[int, tuple[str, str, str]]]:
    """Six clients flood a real server; ``sig`` hits it mid-load. Returns the clients, the
    exit code and what the database holds afterwards."""
    server = ServerProcess.chatapp(db, SERVER_ENV)
    await server.astart()
    try:
        async with aiohttp.ClientSession() as session:
            clients = [LoadClient(session, server.url, f"c{i}") for i in range(6)]
            tasks = [asyncio.create_task(c.run("load", 5000)) for c in clients]
            await asyncio.wait_for(clients[0].enough.wait(), 30)
            server.signal(sig)
            code = await server.await_exit(20)
            await asyncio.wait_for(asyncio.gather(*tasks), 20)
    finally:
        server.kill()
    return clients, code, stored(db)


async def test_sigterm_under_load_commits_and_delivers_everything_then_exits_0(tmp_path: Path) -> None:
    clients, code, rows = await run_load(tmp_path / "chat.db", signal.SIGTERM)
    assert code == 0
    assert rows
    for c in clients:
        assert c.close_code == 1001, (c.name, len(c.received), len(rows), c.ended_with)
        # Every message accepted before the shutdown is stored, and everyone got all of them.
        assert set(c.received) == set(rows)
        for msg_id, frame in c.received.items():
            assert rows[msg_id] == (frame["room"], frame["user"], frame["message"])


async def test_sigkill_under_load_keeps_the_database_sound_and_everything_anyone_saw(tmp_path: Path) -> None:
    clients, code, rows = await run_load(tmp_path / "chat.db", signal.SIGKILL)
    assert code == -signal.SIGKILL
    seen = {i: f for c in clients for i, f in c.received.items()}
    assert seen
    for msg_id, frame in seen.items():
        assert rows[msg_id] == (frame["room"], frame["user"], frame["message"])


async def test_a_restart_keeps_the_history(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    for round_ in range(2):
        server = ServerProcess.chatapp(db, SERVER_ENV)
        await server.astart()
        try:
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"{server.url}/ws/keep") as ws:
                    await ws.send_json({"message": f"round {round_}"})
                    async for msg in ws:
                        if json.loads(msg.data)["type"] == "chat":
                            break
                async with session.get(f"{server.url}/rooms/keep") as r:
                    page = await r.text()
            server.signal(signal.SIGTERM)
            assert await server.await_exit(20) == 0
        finally:
            server.kill()
    assert "round 0" in page and "round 1" in page


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatapp", *args], capture_output=True, text=True,
                          timeout=timeout, env={"PATH": "/usr/bin:/bin", "CHATAPP_ADMIN_PASSWORD": "x"})


def test_an_unusable_database_path_is_one_line_and_a_nonzero_exit(tmp_path: Path) -> None:
    result = run_cli("--port", "0", "--db", str(tmp_path / "missing-dir" / "chat.db"))
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "cannot start" in errors[0]
    assert "Traceback" not in result.stderr


def test_a_database_from_a_newer_chatapp_is_refused_clearly(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                 " applied_at TEXT NOT NULL)")
    conn.execute("INSERT INTO schema_migrations VALUES (9999, '9999_future', 'now')")
    conn.commit()
    conn.close()
    result = run_cli("--port", "0", "--db", str(db))
    assert result.returncode != 0
    assert "newer than this chatapp" in result.stderr
    assert "Traceback" not in result.stderr
