"""Retention through the real app: old messages go, new ones stay, history and search follow."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from typing import Any

from aiohttp.test_utils import TestClient

from chatapp import retention
from chatapp.keys import STORE, WRITER
from chatapp.models import iso_utc as iso
from chatapp.retention import RETENTION, Retention, run_once
from chatapp.settings import Settings
from chatapp.storage.sqlite.connection import migrate_file

from .conftest import TIMEOUT, MakeClient, db_execute
from .pg import pg_execute, postgres_url_for, run_async

NOW = dt.datetime.now(dt.UTC)


def insert_old(db: str, room: str, days_ago: float, n: int, text: str = "old news") -> None:
    """Rows with an old ts, written straight into the file as an import or a restore would
    (on PostgreSQL, into the test's database, as psql would)."""
    ts = iso(NOW - dt.timedelta(days=days_ago))
    url = postgres_url_for(db)
    if url is not None:
        run_async(pg_execute(url, 'INSERT INTO messages (room, "user", body, ts) '
                                  "SELECT ?, 'old', ? || ' ' || i, ? FROM generate_series(0, ? - 1) AS i",
                             (room, text, ts, n)))
        return
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.executemany("INSERT INTO messages (room, user, body, ts) VALUES (?, 'old', ?, ?)",
                         [(room, f"{text} {i}", ts) for i in range(n)])
    finally:
        conn.close()


async def set_retention(client: TestClient[Any, Any], room: str, days: int | None) -> None:
    # What the admin's form does.
    await client.app[STORE].set_retention(room, days)


async def messages(client: TestClient[Any, Any], room: str) -> list[str]:
    page = await (await client.get(f"/api/rooms/{room}/messages", params={"limit": 200})).json()
    return [m["message"] for m in page["messages"]]


async def search(client: TestClient[Any, Any], q: str) -> list[str]:
    found = await (await client.get("/api/search", params={"q": q, "limit": 200})).json()
    return [r["message"] for r in found["results"]]


async def test_retention_deletes_old_messages_and_keeps_new_ones(
        client: TestClient[Any, Any], settings: Settings) -> None:
    await set_retention(client, "short", 7)
    insert_old(settings.db, "short", 10, 3)
    insert_old(settings.db, "short", 6, 2, text="recent enough")
    insert_old(settings.db, "forever", 400, 2, text="ancient")
    await client.app[WRITER].submit("short", "alice", "brand new", None)

    assert await run_once(client.app[STORE]) == 3

    assert await messages(client, "short") == ["recent enough 0", "recent enough 1", "brand new"]
    assert await messages(client, "forever") == ["ancient 0", "ancient 1"]
    assert await search(client, "old news") == []
    assert await search(client, "ancient") == ["ancient 1", "ancient 0"]
    rooms = {r[0]: r[1] for r in await db_execute(settings.db, "SELECT name, message_count FROM rooms")}
    assert rooms == {"short": 3, "forever": 2}
    assert await run_once(client.app[STORE]) == 0  # nothing left to do


async def test_a_room_set_back_to_forever_keeps_everything(client: TestClient[Any, Any], settings: Settings) -> None:
    insert_old(settings.db, "lobby", 30, 2)
    await set_retention(client, "lobby", 1)
    await set_retention(client, "lobby", None)
    assert await run_once(client.app[STORE]) == 0
    assert await messages(client, "lobby") == ["old news 0", "old news 1"]


async def test_large_backlogs_are_deleted_in_chunks(client: TestClient[Any, Any], settings: Settings) -> None:
    await set_retention(client, "busy", 1)
    insert_old(settings.db, "busy", 2, retention.CHUNK * 2 + 17)
    insert_old(settings.db, "busy", 0, 5, text="today")
    assert await run_once(client.app[STORE]) == retention.CHUNK * 2 + 17
    assert await messages(client, "busy") == [f"today {i}" for i in range(5)]


async def test_retention_runs_by_itself_once_the_app_starts(make_client: MakeClient, settings: Settings) -> None:
    migrate_file(settings.db)
    insert_old(settings.db, "lobby", 100, 4)
    await db_execute(settings.db, "UPDATE rooms SET retention_days = 30 WHERE name = 'lobby'")
    client = await make_client()
    async with asyncio.timeout(TIMEOUT):
        await client.app[RETENTION].wait_passes(1)
    assert await messages(client, "lobby") == []


async def test_the_task_repeats_at_its_interval_and_stops_cleanly(
        client: TestClient[Any, Any], settings: Settings) -> None:
    store = client.app[STORE]
    task = Retention(store, interval=0.01)
    task.start()
    try:
        async with asyncio.timeout(TIMEOUT):
            await task.wait_passes(1)
            await set_retention(client, "later", 1)
            insert_old(settings.db, "later", 3, 2)
            start = task.passes
            await task.wait_passes(start + 2)  # a whole pass began after the rows were there
    finally:
        await task.close()
    assert await messages(client, "later") == []
