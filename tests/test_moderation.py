"""Moderation is ordered with the chat: nothing sent before a change outlives it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatapp import moderation
from chatapp.keys import STORE, WRITER
from chatapp.writer import NotStored, Stored

from .conftest import TIMEOUT, db_execute, recv, whole_history

Client = TestClient[Any, Any]


async def settle(futures: list[asyncio.Future[Stored]]) -> list[Stored | BaseException]:
    return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), TIMEOUT)


async def history_ids(client: Client, room: str) -> list[int]:
    return [m["id"] for m in await whole_history(client, room)]


async def test_no_message_accepted_before_a_clear_is_in_the_history_after_it(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moderation, "DELETE_CHUNK", 7)
    writer = client.app[WRITER]
    listener = await client.ws_connect("/ws/lobby")
    before = [writer.submit("lobby", "alice", f"before {i}", None) for i in range(300)]
    others = [writer.submit("other", "bob", f"elsewhere {i}", None) for i in range(300)]
    deleted = await moderation.clear(client.app, "lobby")
    assert await history_ids(client, "lobby") == []
    assert all(isinstance(r, Stored) for r in await settle(before + others))
    assert deleted == 300
    assert len(await history_ids(client, "other")) == 300  # other rooms untouched
    # The listener saw every chat frame of the room, then the clear: nothing after it.
    seen = []
    while True:
        frame = await recv(listener)
        if frame["type"] == "clear":
            break
        seen.append(frame["message"])
    assert seen == [f"before {i}" for i in range(300)]
    after = await writer.submit("lobby", "alice", "after", None)
    assert (await recv(listener))["id"] == after.message.id


async def test_messages_sent_while_a_clear_runs_land_after_it_for_everyone_or_are_refused(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moderation, "DELETE_CHUNK", 2)
    writer = client.app[WRITER]
    for i in range(20):
        await writer.submit("lobby", "alice", f"old {i}", None)
    listener = await client.ws_connect("/ws/lobby", params={"after": "0"})
    clearing = asyncio.create_task(moderation.clear(client.app, "lobby"))
    during: list[asyncio.Future[Stored]] = []
    while not clearing.done() and len(during) < 1000:
        during.append(writer.submit("lobby", "alice", f"during {len(during)}", None))
        await asyncio.sleep(0)  # let the clear take its next step (not a wait for time)
    await clearing
    outcomes = await settle(during)
    stored_ids = [r.message.id for r in outcomes if isinstance(r, Stored)]
    refused = [r for r in outcomes if isinstance(r, NotStored)]
    assert refused and all(r.code == "room_locked" for r in refused)
    # The clear has its place in the log: every message stored before it went with it, every
    # one stored after it is kept, and the listener saw the clear between the two.
    seen_before_clear = []
    while (frame := await recv(listener))["type"] != "clear":
        seen_before_clear.append(frame["id"])
    cleared_at = frame["event_id"]
    kept = await history_ids(client, "lobby")
    assert kept == sorted(i for i in stored_ids if i > cleared_at)
    # Before the clear the listener saw only what it removed. (Not necessarily all of it: a
    # message stored while the listener was still catching up, and removed before its catch-up
    # read that far, reaches it only as the clear.)
    assert seen_before_clear == sorted(seen_before_clear)
    assert set(seen_before_clear) <= {i for i in set(range(1, 21)) | set(stored_ids) if i < cleared_at}
    for message_id in kept:
        frame = await recv(listener)
        assert frame["type"] == "chat" and frame["id"] == message_id


async def test_a_lock_set_while_a_clear_runs_stays_set(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moderation, "DELETE_CHUNK", 2)
    writer = client.app[WRITER]
    for i in range(40):
        await writer.submit("lobby", "alice", f"m{i}", None)
    clearing = asyncio.create_task(moderation.clear(client.app, "lobby"))
    await moderation.set_locked(client.app, "lobby", True)  # from another tab, mid-clear
    await clearing
    assert writer.rooms.is_locked("lobby")
    assert await client.app[STORE].locked_rooms() == {"lobby"}
    with pytest.raises(NotStored) as refused:
        await writer.submit("lobby", "alice", "still locked?", None)
    assert refused.value.code == "room_locked"


async def test_a_deleted_room_is_not_brought_back_by_a_message_in_flight(client: Client) -> None:
    writer = client.app[WRITER]
    await writer.submit("doomed", "alice", "first", None)
    epoch = writer.rooms.epoch("doomed")  # what a socket of the room remembers
    in_flight = [writer.submit("doomed", "alice", f"late {i}", None, epoch) for i in range(50)]
    await moderation.delete_room(client.app, "doomed")
    late = writer.submit("doomed", "alice", "after the delete", None, epoch)
    outcomes = await settle([*in_flight, late])
    assert isinstance(outcomes[-1], NotStored) and outcomes[-1].code == "room_deleted"
    assert await client.app[STORE].room("doomed") is None
    assert await history_ids(client, "doomed") == []
    fresh = await writer.submit("doomed", "bob", "a new room", None, writer.rooms.epoch("doomed"))
    assert await history_ids(client, "doomed") == [fresh.message.id]


async def test_deleting_a_message_moves_the_rooms_last_activity_back(client: Client, settings: Any) -> None:
    writer = client.app[WRITER]
    first = await writer.submit("lobby", "alice", "first", None)
    await db_execute(settings.db, "UPDATE messages SET ts = '2020-01-01T00:00:00.000Z' WHERE id = ?",
                     first.message.id)
    last = await writer.submit("lobby", "alice", "last", None)
    summary = await client.app[STORE].room("lobby")
    assert summary is not None and summary.last_message_at == last.message.ts
    assert await moderation.delete_message(client.app, "lobby", last.message.id)
    summary = await client.app[STORE].room("lobby")
    assert summary is not None and summary.last_message_at == "2020-01-01T00:00:00.000Z"
    await moderation.delete_message(client.app, "lobby", first.message.id)
    summary = await client.app[STORE].room("lobby")
    assert summary is not None and summary.last_message_at is None and summary.message_count == 0
