"""The admin's actions, through the real app: what each does, what the room's open pages
see, and what is recorded. (Getting in: test_admin_access.py.)"""

from __future__ import annotations

import asyncio
from html.parser import HTMLParser

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType

from chatapp import moderation
from chatapp.keys import STORE, WRITER

from .admin_client import Client, WsConnect, history, login, post, say
from .conftest import TIMEOUT, recv_chats, recv_type


class RoomTable(HTMLParser):
    """The cells of ``table#rooms``: room name -> {cell class: text}."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.order: list[str] = []
        self._room: str | None = None
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-room"):
            self._room = a["data-room"]
            assert self._room is not None
            self.rows[self._room] = {}
            self.order.append(self._room)
        elif tag == "td" and self._room is not None:
            self._cell = (a.get("class") or "").split()[-1]
            self.rows[self._room][self._cell] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._room = None

    def handle_data(self, data: str) -> None:
        if self._room is not None and self._cell is not None:
            self.rows[self._room][self._cell] += data


async def room_table(client: Client) -> RoomTable:
    resp = await client.get("/admin")
    assert resp.status == 200
    table = RoomTable()
    table.feed(await resp.text())
    return table


async def close_frame(ws: ClientWebSocketResponse) -> tuple[int, str]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.CLOSE:
                return msg.data, msg.extra
            if msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR):
                raise AssertionError(f"closed without a close frame: {msg}")


# ---- the actions, seen by a connected client and in the history ----

async def test_deleting_a_message_removes_it_from_the_history_and_tells_the_room(
        client: Client, ws_connect: WsConnect) -> None:
    token = await login(client)
    ws = await ws_connect("lobby", user="alice")
    keep = await say(ws, "keep me")
    gone = await say(ws, "delete me")
    page = await client.get("/admin/rooms/lobby")
    action = f"/admin/rooms/lobby/messages/{gone['id']}/delete"
    assert f'action="{action}"' in await page.text()
    resp = await post(client, action, token)
    assert resp.status == 303
    assert resp.headers["Location"] == "/admin/rooms/lobby"
    deleted = {"type": "delete", "id": gone["id"], "room": "lobby", "event_id": gone["id"] + 1}
    assert await recv_type(ws, "delete") == deleted
    assert [m["id"] for m in await history(client, "lobby")] == [keep["id"]]
    assert "delete me" not in await (await client.get("/admin/rooms/lobby")).text()


async def test_deleting_a_message_that_is_already_gone_changes_nothing(client: Client) -> None:
    token = await login(client)
    resp = await post(client, "/admin/rooms/lobby/messages/999/delete", token)
    assert resp.status == 303
    assert "already gone" in await (await client.get("/admin/rooms/lobby")).text()


async def test_a_locked_room_refuses_sends_and_says_so_until_it_is_unlocked(
        client: Client, ws_connect: WsConnect) -> None:
    token = await login(client)
    ws = await ws_connect("lobby", user="alice")
    await say(ws, "before")
    assert (await post(client, "/admin/rooms/lobby/lock", token)).status == 303
    assert await recv_type(ws, "room") == {"type": "room", "room": "lobby", "locked": True}
    await ws.send_json({"message": "during", "client_id": "c1"})
    error = await recv_type(ws, "error")
    assert error["error"] == "room_locked" and error["client_id"] == "c1"
    assert "This room is locked" in await (await client.get("/admin/rooms/lobby")).text()
    assert 'id="locked-notice"' in await (await client.get("/rooms/lobby")).text()
    assert await client.server.app[STORE].locked_rooms() == {"lobby"}
    assert [m["message"] for m in await history(client, "lobby")] == ["before"]

    assert (await post(client, "/admin/rooms/lobby/unlock", token)).status == 303
    assert await recv_type(ws, "room") == {"type": "room", "room": "lobby", "locked": False}
    await say(ws, "after")
    assert [m["message"] for m in await history(client, "lobby")] == ["before", "after"]
    assert "This room is locked" not in await (await client.get("/admin/rooms/lobby")).text()


async def test_clearing_a_room_empties_its_history_and_tells_the_room(
        client: Client, ws_connect: WsConnect, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moderation, "DELETE_CHUNK", 2)  # three messages take two deletes
    token = await login(client)
    ws = await ws_connect("lobby")
    other = await ws_connect("other")
    for i in range(3):
        await say(ws, f"m{i}")
    await say(other, "untouched")
    assert (await post(client, "/admin/rooms/lobby/clear", token)).status == 303
    cleared = await recv_type(ws, "clear")
    assert cleared == {"type": "clear", "room": "lobby", "event_id": cleared["event_id"]}
    assert await history(client, "lobby") == []
    assert [m["message"] for m in await history(client, "other")] == ["untouched"]
    rows = (await room_table(client)).rows
    assert rows["lobby"]["count"] == "0" and rows["other"]["count"] == "1"
    await say(ws, "the room still works")  # cleared, not locked


async def test_deleting_a_room_closes_its_sockets_with_a_reason_and_forgets_it(
        client: Client, ws_connect: WsConnect) -> None:
    token = await login(client)
    ws = await ws_connect("doomed")
    await say(ws, "soon gone")
    await post(client, "/admin/rooms/doomed/lock", token)
    resp = await post(client, "/admin/rooms/doomed/delete", token)
    assert resp.status == 303 and resp.headers["Location"] == "/admin"
    assert await close_frame(ws) == (4000, "room deleted")
    assert await history(client, "doomed") == []
    assert await client.server.app[STORE].room("doomed") is None
    assert not client.server.app[WRITER].rooms.is_locked("doomed")
    assert "doomed" not in (await room_table(client)).rows
    again = await ws_connect("doomed")  # the name is free again, and open
    await say(again, "a fresh start")


async def test_a_room_keeps_its_messages_for_the_days_chosen_or_forever(client: Client) -> None:
    token = await login(client)
    store = client.server.app[STORE]
    assert (await post(client, "/admin/rooms/lobby/retention", token, keep="days", days="30")).status == 303
    stats = await store.room_stat("lobby", "")
    assert stats is not None and stats.retention_days == 30
    assert "Now: 30 days" in await (await client.get("/admin/rooms/lobby")).text()
    assert (await post(client, "/admin/rooms/lobby/retention", token, keep="forever", days="30")).status == 303
    stats = await store.room_stat("lobby", "")
    assert stats is not None and stats.retention_days is None
    for bad in ("0", "-1", "many", "999999"):
        resp = await post(client, "/admin/rooms/lobby/retention", token, keep="days", days=bad)
        assert resp.status == 400, bad


async def test_the_room_table_counts_are_right_right_after_a_burst_in_several_rooms(
        client: Client, ws_connect: WsConnect) -> None:
    await login(client)
    burst = {"alpha": 37, "beta": 5, "gamma": 120}
    sockets = {room: await ws_connect(room, user="bot") for room in burst}
    watcher = await ws_connect("alpha", user="watcher")
    await recv_type(watcher, "presence")
    for room, n in burst.items():
        ws = sockets[room]
        for i in range(n):
            await ws.send_json({"message": f"{room} {i}", "user": f"user{i % 4}"})
    for room, n in burst.items():
        await recv_chats(sockets[room], n)
    quiet = await ws_connect("quiet")  # connected, never posted
    await recv_type(quiet, "presence")

    table = await room_table(client)
    for room, n in burst.items():
        assert table.rows[room]["count"] == str(n), room
        assert table.rows[room]["names"] == str(min(n, 4)), room
    assert table.rows["alpha"]["connections"] == "2"
    assert table.rows["quiet"]["connections"] == "1" and table.rows["quiet"]["count"] == "0"

    data = await (await client.get("/admin/api/rooms")).json()
    rooms = {r["name"]: r for r in data["rooms"]}
    assert {room: rooms[room]["messages"] for room in burst} == burst
    assert data["totals"]["messages"] == sum(burst.values())
    assert data["totals"]["rooms"] == 4
    assert data["totals"]["connections"] == 5
    assert data["totals"]["db_bytes"] > 0
    lasts = [r["last_message_at"] or "" for r in data["rooms"]]
    assert lasts == sorted(lasts, reverse=True)  # most recently active first
    assert [r["name"] for r in data["rooms"]] == table.order


async def test_the_room_table_links_each_room_to_its_admin_page(client: Client, ws_connect: WsConnect) -> None:
    await login(client)
    await say(await ws_connect("lobby"), "hello")
    html = await (await client.get("/admin")).text()
    assert '<tr data-room="lobby">' in html
    assert 'href="/admin/rooms/lobby"' in html


# ---- the record ----

async def test_every_admin_action_is_recorded_in_the_audit_log(client: Client, ws_connect: WsConnect) -> None:
    token = await login(client)
    sent = await say(await ws_connect("lobby"), "spam")
    for path, data in [
        (f"/admin/rooms/lobby/messages/{sent['id']}/delete", {}),
        ("/admin/rooms/lobby/lock", {}),
        ("/admin/rooms/lobby/unlock", {}),
        ("/admin/rooms/lobby/retention", {"keep": "days", "days": "7"}),
        ("/admin/rooms/lobby/clear", {}),
        ("/admin/rooms/lobby/delete", {}),
    ]:
        assert (await post(client, path, token, **data)).status == 303, path
    entries, _ = await client.server.app[STORE].audit_entries(None, 100)
    assert [e.action for e in reversed(entries)] == [
        "login", "delete_message", "lock", "unlock", "retention", "clear", "delete_room"]
    assert all(e.client == "127.0.0.1" and e.at.endswith("Z") for e in entries)
    deleted = next(e for e in entries if e.action == "delete_message")
    assert deleted.room == "lobby" and deleted.message_id == sent["id"]
    html = await (await client.get("/admin/audit")).text()
    assert html.count("<tr data-action=") == len(entries)
    assert f'<td data-label="Message" class="num">{sent["id"]}</td>' in html
