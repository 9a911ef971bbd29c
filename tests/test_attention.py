"""Attention through the real app: a member's sidebar, unread counts that follow them from
page to page and browser to browser, read positions written in batches, the "new messages"
divider, and the cost of it all (one query for a sidebar of 50 rooms)."""

from __future__ import annotations

import asyncio
import html
import json
import re
import sqlite3
from typing import Any

import pytest

from chatapp.attention import ATTENTION
from chatapp.keys import STORE, WRITER
from chatapp.settings import Settings

from .attention_client import Client, members, mentions_recorded, open_page, post, second_browser, sidebar, until
from .conftest import MakeClient, db_execute, recv_type


def _state(page: str) -> list[dict[str, Any]]:
    """The sidebar a room page hands its script (the nav's data-rooms)."""
    found = re.search(r"data-rooms='([^']*)'", page)
    assert found is not None
    state: list[dict[str, Any]] = json.loads(html.unescape(found.group(1)))
    return state


async def handled(ws: Any) -> None:
    """Every frame sent before this on ``ws`` was handled: a bad frame's error comes back
    after them (a socket's frames are handled in order)."""
    await ws.send_json({"type": "read", "room": "not a room", "id": 1})
    error, _ = await until(ws, "error")
    assert error["error"] == "invalid_room"


async def test_a_members_socket_gets_their_sidebar_with_unread_counts(client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    await post(alice, "general", "hello")
    await (await bob.get("/rooms/general")).text()  # bob opens #general: it joins his sidebar, read
    await post(alice, "general", "are you there?")
    await post(alice, "general", "bob?")
    ws = await open_page(bob, "random")
    rooms = await sidebar(ws)
    assert rooms["general"]["unread"] == 2 and rooms["general"]["mentions"] == 0
    assert rooms["general"]["level"] == "mentions" and rooms["general"]["visibility"] == "public"
    assert rooms["random"]["unread"] == 0


async def test_activity_in_another_room_reaches_the_members_page_but_not_the_room_itself(
        client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    await (await bob.get("/rooms/general")).text()
    on_random = await open_page(bob, "random")
    on_general = await open_page(bob, "general")
    await sidebar(on_random)
    await sidebar(on_general)
    sent = await post(alice, "general", "news")
    activity, _ = await until(on_random, "activity")
    assert activity == {"type": "activity", "room": "general", "id": sent["id"], "user": "alice", "mention": False}
    # The page on #general gets the chat frame, and no activity for its own room.
    await post(alice, "random", "and here")
    _frame, before = await until(on_general, "activity", room="random")
    assert all(f["type"] != "activity" for f in before)


async def test_reading_on_one_page_clears_the_unread_on_the_members_other_browser(
        client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    phone = await second_browser(client, aiohttp_client, "bob")
    await (await bob.get("/rooms/general")).text()
    laptop_ws = await open_page(bob, "general")
    phone_ws = await open_page(phone, "random")
    await sidebar(laptop_ws)
    await sidebar(phone_ws)
    sent = await post(alice, "general", "read me")
    await until(phone_ws, "activity", id=sent["id"])
    await laptop_ws.send_json({"type": "read", "room": "general", "id": sent["id"]})
    read, _ = await until(phone_ws, "read")
    assert read == {"type": "read", "room": "general", "id": sent["id"]}
    # And a page opened later starts from there.
    later = await open_page(phone, "random")
    assert (await sidebar(later))["general"]["unread"] == 0


async def test_read_positions_only_move_forward_and_are_written_in_batches(
        client: Client, aiohttp_client: Any, settings: Settings) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    await (await bob.get("/rooms/general")).text()
    ids = [(await post(alice, "general", f"m{i}"))["id"] for i in range(3)]
    ws = await open_page(bob, "general")
    await sidebar(ws)
    attention = client.server.app[ATTENTION]
    for i in (ids[1], ids[0], ids[2], ids[1]):
        await ws.send_json({"type": "read", "room": "general", "id": i})
    await ws.send_json({"type": "read", "room": "nowhere", "id": ids[2]})  # not in the sidebar: ignored
    await handled(ws)
    assert attention.reads.position(2, "general") == ids[2]
    assert attention.reads.dirty == 1  # one position, however many frames
    assert await attention.reads.flush() == 1
    rows = await db_execute(settings.db, "SELECT room, last_read FROM attention WHERE member_id = 2 ORDER BY room")
    assert dict(rows)["general"] == ids[2]
    assert "nowhere" not in dict(rows)


async def test_a_read_id_beyond_the_newest_message_is_capped(client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    sent = await post(alice, "general", "hi")
    ws = await open_page(bob, "general")
    await sidebar(ws)
    await ws.send_json({"type": "read", "room": "general", "id": 10**15})
    await handled(ws)
    assert client.server.app[ATTENTION].reads.position(2, "general") == sent["id"]
    later = await post(alice, "general", "still counted as new")
    assert (await sidebar(await open_page(bob, "random")))["general"]["unread"] == 1
    assert later["id"] > sent["id"]


async def test_positions_survive_a_restart(make_client: MakeClient, aiohttp_client: Any) -> None:
    first = await make_client()
    alice, bob = await members(first, aiohttp_client, "alice", "bob")
    await (await bob.get("/rooms/general")).text()
    ids = [(await post(alice, "general", f"m{i}"))["id"] for i in range(4)]
    ws = await open_page(bob, "random")
    await sidebar(ws)
    await ws.send_json({"type": "read", "room": "general", "id": ids[1]})
    await handled(ws)
    assert first.server.app[ATTENTION].reads.dirty == 1
    await ws.close()
    await first.close()  # shutdown writes what is dirty
    second = await make_client()
    phone = await second_browser(second, aiohttp_client, "bob")
    rooms = await sidebar(await open_page(phone, "random"))
    assert rooms["general"]["last_read"] == ids[1] and rooms["general"]["unread"] == 2


async def test_posting_counts_as_reading_for_the_sender(client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    await post(bob, "general", "first")
    await post(alice, "general", "unread for bob")
    ws = await open_page(bob, "random")
    assert (await sidebar(ws))["general"]["unread"] == 1
    mine = await post(bob, "general", "bob answers, elsewhere")
    read, before = await until(ws, "read", room="general")
    assert read["id"] == mine["id"] and not [f for f in before if f["type"] == "activity"]


async def test_the_room_page_marks_the_first_unread_message_for_the_divider(
        client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    seen = await post(alice, "general", "seen")
    await (await bob.get("/rooms/general")).text()
    await post(bob, "general", "bob was here")
    first_new = await post(alice, "general", "new one")
    await post(alice, "general", "newer one")
    page = await (await bob.get("/rooms/general")).text()
    marked = re.findall(r'class="message[^"]*first-unread[^"]*" data-id="(\d+)"', page)
    assert marked == [str(first_new["id"])]
    assert seen["id"] < first_new["id"]
    # Everything read, no divider; a guest's divider is the browser's business.
    ws = await open_page(bob, "general")
    await sidebar(ws)
    await ws.send_json({"type": "read", "room": "general", "id": first_new["id"] + 1})
    await handled(ws)
    assert "first-unread" not in await (await bob.get("/rooms/general")).text()
    assert "first-unread\"" not in await (await alice.get("/rooms/general")).text()


async def test_the_room_page_lists_the_sidebar_with_counts_and_the_current_room(
        client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    await (await bob.get("/rooms/general")).text()
    for i in range(3):
        await post(alice, "general", f"{i} @bob" if i == 2 else str(i))
    await mentions_recorded(client)
    page = await (await bob.get("/rooms/random")).text()
    general = re.search(r'<li class="rooms-item unread mentioned" data-room="general">(.*?)</li>', page, re.S)
    assert general is not None
    assert '<span class="rooms-unread" title="Unread messages">3</span>' in general.group(1)
    assert '<span class="rooms-mentions" title="Mentions of you">@1</span>' in general.group(1)
    assert '<li class="rooms-item current" data-room="random">' in page
    assert {e["room"]: (e["unread"], e["mentions"]) for e in _state(page)} == {"general": (3, 1), "random": (0, 0)}


async def test_counts_stop_at_the_limit_and_show_99_plus(client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    await (await bob.get("/rooms/general")).text()
    ws = await alice.ws_connect("/ws/general")
    for i in range(120):
        await ws.send_json({"message": f"flood {i}", "client_id": f"f{i}"})
    await recv_type(ws, "chat")
    await client.server.app[WRITER].drain()
    page = await (await bob.get("/rooms/random")).text()
    assert '<span class="rooms-unread" title="Unread messages">99+</span>' in page
    assert {e["room"]: e["unread"] for e in _state(page)}["general"] == 100  # counted up to the limit


@pytest.mark.sqlite_only(reason="counts the statements SQLite connections run (a trace callback)")
async def test_a_sidebar_of_50_rooms_costs_one_query(client: Client, aiohttp_client: Any, settings: Settings) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    rows = [(2, f"room-{i}", 0, "2024-01-01T00:00:00.000Z") for i in range(50)]
    await _insert(settings.db, rows)
    for i in range(0, 50, 10):
        await post(alice, f"room-{i}", "something to count")
    store = client.server.app[STORE]
    statements: list[str] = []
    for conn in store._all:  # type: ignore[attr-defined]  # every connection the storage holds
        await conn.set_trace_callback(statements.append)
    try:
        page = await bob.get("/rooms/room-1")
        assert page.status == 200
        page_statements = [s for s in statements if "FROM attention" in s or "attention a" in s]
        statements.clear()
        ws = await bob.ws_connect("/ws/room-1", params={"sidebar": "1"})
        rooms = await sidebar(ws)
        socket_statements = [s for s in statements if "attention" in s]
    finally:
        for conn in store._all:  # type: ignore[attr-defined]
            await conn.set_trace_callback(None)
    assert len(rooms) == 50 and sum(r["unread"] for r in rooms.values()) == 5
    assert len(page_statements) == 1, page_statements
    assert len(socket_statements) == 1, socket_statements


async def _insert(db: str, rows: list[tuple[int, str, int, str]]) -> None:
    def run() -> None:
        conn = sqlite3.connect(db)
        try:
            conn.executemany("INSERT INTO attention (member_id, room, last_read, joined_at) VALUES (?, ?, ?, ?)", rows)
            conn.commit()
        finally:
            conn.close()
    await asyncio.to_thread(run)
