"""The batch writer: what a refused batch costs, in a unit test and through the real app."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from chatapp.keys import WRITER
from chatapp.models import Message
from chatapp.rooms import RoomState
from chatapp.storage import NewRow, RowRejected, Unavailable
from chatapp.writer import BatchWriter, NotStored, Stored

from .admin_client import login
from .conftest import TIMEOUT, MakeClient, recv


class FakeStorage:
    """Just what the writer calls; ``fail`` decides how each insert goes."""

    def __init__(self) -> None:
        self.inserts: list[list[NewRow]] = []
        self.fail: Exception | None = None
        self.bad_body: str | None = None  # a row with this body breaks a constraint
        self._next_id = 1

    async def insert_messages(self, rows: Sequence[NewRow]) -> list[Message]:
        self.inserts.append(list(rows))
        if self.fail is not None:
            raise self.fail
        if any(r.body == self.bad_body for r in rows):
            raise RowRejected("CHECK constraint failed")
        out = []
        for r in rows:
            out.append(Message(self._next_id, r.room, r.user, r.body, r.ts, r.client_id))
            self._next_id += 1
        return out

    async def by_client_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Message]:
        return {}


async def _outcomes(futures: list[asyncio.Future[Stored]]) -> list[str]:
    done = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), TIMEOUT)
    return [r.code if isinstance(r, NotStored) else r.message.body for r in done]  # type: ignore[union-attr]


async def test_a_database_wide_error_fails_the_whole_batch_in_one_attempt() -> None:
    storage = FakeStorage()
    published: list[Stored] = []
    writer = BatchWriter(storage, published.extend, RoomState())  # type: ignore[arg-type]
    storage.fail = Unavailable("database is locked")
    futures = [writer.submit("lobby", "a", f"m{i}", None) for i in range(30)]
    writer.start()
    try:
        assert await _outcomes(futures) == ["not_stored"] * 30
        assert len(storage.inserts) == 1, "a lock is not one row's fault: no retry one by one"
        assert published == []
        storage.fail = None  # the lock is gone: the next batch is stored
        assert await _outcomes([writer.submit("lobby", "a", "back", None)]) == ["back"]
    finally:
        await writer.close()


async def test_one_bad_row_fails_alone_and_the_rest_of_its_batch_is_stored() -> None:
    storage = FakeStorage()
    storage.bad_body = "bad"
    published: list[Stored] = []
    writer = BatchWriter(storage, published.extend, RoomState())  # type: ignore[arg-type]
    futures = [writer.submit("lobby", "a", body, None) for body in ("one", "bad", "three")]
    writer.start()
    try:
        assert await _outcomes(futures) == ["one", "not_stored", "three"]
        assert [s.message.body for s in published] == ["one", "three"]
    finally:
        await writer.close()


async def test_an_error_partway_through_a_split_batch_fails_the_rest_at_once() -> None:
    storage = FakeStorage()
    storage.bad_body = "bad"
    writer = BatchWriter(storage, lambda stored: None, RoomState())  # type: ignore[arg-type]
    futures = [writer.submit("lobby", "a", body, None) for body in ("bad", "two", "three", "four")]
    original = storage.insert_messages
    calls = 0

    async def lock_after_two(rows: Sequence[NewRow]) -> list[Message]:
        nonlocal calls
        calls += 1
        if calls == 3:  # batch, "bad" alone, "two" alone, then the database locks
            storage.fail = Unavailable("database is locked")
        return await original(rows)

    storage.insert_messages = lock_after_two  # type: ignore[method-assign]
    writer.start()
    try:
        assert await _outcomes(futures) == ["not_stored"] * 4
        assert calls == 3, "after the lock, no more attempts for the rest of the batch"
    finally:
        await writer.close()


async def test_messages_to_a_locked_room_are_refused_when_committed() -> None:
    storage = FakeStorage()
    rooms = RoomState(locked={"quiet"})
    writer = BatchWriter(storage, lambda stored: None, rooms)  # type: ignore[arg-type]
    futures = [writer.submit("quiet", "a", "x", None), writer.submit("lobby", "a", "y", None)]
    writer.start()
    try:
        assert await _outcomes(futures) == ["room_locked", "y"]
    finally:
        await writer.close()


@pytest.mark.sqlite_only(reason="holds a SQLite write lock from another connection; test_postgres stops the server")
async def test_a_held_database_lock_answers_every_sender_within_about_one_busy_timeout(
        make_client: MakeClient, settings: Any) -> None:
    # Before: 30 sends with a 0.3 s busy timeout retried one by one, 0.3 s each, and most
    # were still unanswered after 5 s. Now the batch fails at once, so a few busy
    # timeouts are plenty.
    client = await make_client(busy_timeout=0.3)
    ws = await client.ws_connect("/ws/locked")
    blocker = sqlite3.connect(settings.db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        for i in range(30):
            await ws.send_json({"message": f"m{i}", "client_id": f"c{i}"})
        answered = set()
        async with asyncio.timeout(3.0):
            while len(answered) < 30:
                frame = await recv(ws)
                assert frame["type"] == "error" and frame["error"] == "not_stored", frame
                answered.add(frame["client_id"])
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await ws.send_json({"message": "after", "client_id": "after"})
    frame = await recv(ws)
    assert frame["type"] == "chat" and frame["message"] == "after"


@pytest.mark.sqlite_only(reason="a 1 MiB ceiling; an empty PostgreSQL database is about 8 MB already")
async def test_past_the_storage_ceiling_new_messages_are_refused_and_reading_goes_on(
        make_client: MakeClient) -> None:
    client = await make_client(max_db_mb=1)
    writer = client.app[WRITER]
    writer.ceiling.INTERVAL = 0.0  # type: ignore[misc]  # look at the disk before every batch
    refused: NotStored | None = None
    stored = 0
    for i in range(500):  # ~20 KB a message with its search index: full well before the end
        try:
            await writer.submit("lobby", "filler", f"{i} " + "x" * 3990, None)
            stored += 1
        except NotStored as exc:
            refused = exc
            break
    assert refused is not None and refused.code == "storage_full"
    ws = await client.ws_connect("/ws/lobby")
    await ws.send_json({"message": "one more", "client_id": "c1"})
    frame = await recv(ws)
    assert frame["type"] == "error" and frame["error"] == "storage_full" and frame["client_id"] == "c1"
    history = await client.get("/api/rooms/lobby/messages")
    assert history.status == 200 and len((await history.json())["messages"]) == stored > 0
    assert (await client.get("/rooms/lobby")).status == 200
    await login(client)  # the operator is told, on the page and in the live table's data
    assert 'id="storage-full" class="alert storage-full" role="alert">' in await (await client.get("/admin")).text()
    assert (await (await client.get("/admin/api/rooms")).json())["totals"]["storage_full"] is True
