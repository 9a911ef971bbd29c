"""The SQLite search index, filled after the commits (chatapp/storage/sqlite/indexer.py):
in the background, by every search, on close, and for rows other connections wrote."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from chatapp.models import utc_now_iso
from chatapp.storage import NewRow
from chatapp.storage.sqlite import SQLiteStorage, indexer

pytestmark = pytest.mark.sqlite_only(reason="the SQLite backend's own index")

TIMEOUT = 10.0


def indexed_ids(db: Path) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT rowid FROM messages_fts ORDER BY rowid")]
    finally:
        conn.close()


async def until_indexed(db: Path, ids: list[int]) -> None:
    """Wait (polling the file, as another program would see it) until exactly ``ids`` are indexed."""
    async with asyncio.timeout(TIMEOUT):
        while indexed_ids(db) != ids:
            await asyncio.sleep(0.02)


def rows(n: int, start: int = 0, text: str = "hello there") -> list[NewRow]:
    return [NewRow("lobby", "ann", f"{text} {i}", utc_now_iso(), f"c{i}") for i in range(start, start + n)]


async def test_the_background_indexes_a_full_step_at_once_and_the_rest_after_the_delay(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    store = await SQLiteStorage.open(str(db))
    try:
        stored = await store.insert_messages(rows(indexer.STEP + 3))
        assert indexed_ids(db) == []  # not inside the commit
        await until_indexed(db, [m.id for m in stored])
    finally:
        await store.close()


async def test_a_search_finds_what_is_not_indexed_yet_and_an_early_edit_is_indexed_once(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    store = await SQLiteStorage.open(str(db))
    try:
        first, = await store.insert_messages(rows(1, text="zebra crossing"))
        # Edited before its step: the edit trigger leaves it to the step, which indexes the new text.
        await store.edit_message("lobby", first.id, "giraffe crossing", utc_now_iso(), "<p>giraffe crossing</p>")
        assert [h.id for h in await store.search("GIRAFFE", None, None, 10)] == [first.id]  # not indexed yet
        assert await store.search("zebra", None, None, 10) == []
        await until_indexed(db, [first.id])
        assert [h.id for h in await store.search("giraffe", None, None, 10)] == [first.id]  # from the index
        # Edited after its step: re-indexed at once.
        await store.edit_message("lobby", first.id, "okapi crossing", utc_now_iso(), "<p>okapi crossing</p>")
        assert [h.id for h in await store.search("okapi", None, None, 10)] == [first.id]
        assert indexed_ids(db) == [first.id]
    finally:
        await store.close()


async def test_close_indexes_the_rest_including_rows_another_connection_wrote(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    store = await SQLiteStorage.open(str(db))
    try:
        stored = await store.insert_messages(rows(3))
        conn = sqlite3.connect(db, isolation_level=None)
        try:
            conn.execute("INSERT INTO messages (room, user, body, ts) VALUES ('lobby', 'sh', 'from the shell', ?)",
                         (utc_now_iso(),))
            (shell_id,) = conn.execute("SELECT max(id) FROM messages").fetchone()
        finally:
            conn.close()
    finally:
        await store.close()
    assert indexed_ids(db) == [*(m.id for m in stored), shell_id]
    again = await SQLiteStorage.open(str(db))  # and a restart finds nothing left to do
    try:
        assert [h.id for h in await again.search("shell", None, None, 10)] == [shell_id]
    finally:
        await again.close()


async def test_thousands_stored_by_another_process_are_indexed_in_the_background(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    store = await SQLiteStorage.open(str(db))
    try:
        many = 7 * indexer.STEP
        conn = sqlite3.connect(db, isolation_level=None)
        try:
            conn.executemany("INSERT INTO messages (room, user, body, ts) VALUES ('lobby', 'imp', ?, ?)",
                             [(f"imported {i}", utc_now_iso()) for i in range(many)])
        finally:
            conn.close()
        # The search finds them unindexed, and wakes the background to index them.
        assert len(await store.search("imported", None, None, 500)) == 500
        await until_indexed(db, list(range(1, many + 1)))  # the only rows: ids 1 to many
        assert len(await store.search("imported", None, None, 500)) == 500
    finally:
        await store.close()


async def test_under_a_steady_flow_a_pass_indexes_what_was_waiting_and_leaves_newcomers_to_the_next(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Ten messages are committed while each of the first three steps runs, as under a steady
    # flow of chat. A pass indexes what was waiting when it began; chasing the newcomers
    # instead stepped on and on, a few messages at a time, in front of the chat's commits
    # (fanout p50 2.5 ms instead of 1.4). The newcomers wait for the next pass.
    monkeypatch.setattr(indexer, "DELAY", 0.01)
    steps: list[int] = []
    passes_done = asyncio.Event()

    async def write(sql: str, params: object) -> list[object]:
        if sql.startswith("SELECT"):
            return [(0, 0)]
        upto, = params  # type: ignore[misc]
        steps.append(upto)
        if len(steps) <= 3:
            search.stored(search.newest + 10)
        if upto == 330:
            passes_done.set()
        return []

    search = indexer.SearchIndexer(write, write)
    await search.start()
    try:
        search.stored(300)
        async with asyncio.timeout(TIMEOUT):
            await passes_done.wait()
        assert steps == [256, 300, 320, 330]
    finally:
        await search.close()
