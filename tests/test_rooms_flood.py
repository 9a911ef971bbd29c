"""A flood of new rooms, through the real app: creating rooms is capped per address, the
room lists of ``/`` and ``/admin`` stay a page whatever the number of rooms, any room can
be found, and the operator can delete many rooms at once."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType

from chatapp import moderation
from chatapp.admin import bulk
from chatapp.keys import STORE, WRITER
from chatapp.models import iso_utc
from chatapp.storage import NewRow, Storage
from chatapp.writer import NotStored

from .admin_client import Client, WsConnect, login, post
from .conftest import TIMEOUT, MakeClient, recv, recv_chats, recv_type

_ROOM_ITEM = re.compile(r'<li class="room-item" data-room="([^"]+)"')
_MORE = re.compile(r'id="more-rooms" class="more" href="([^"]+)"')


async def seed(store: Storage, names: list[str], *, start: dt.datetime, messages: int = 1) -> None:
    """``messages`` messages in each room, the rooms a second apart from ``start`` on."""
    rows = [NewRow(name, "seed", f"hello {k}", iso_utc(start + dt.timedelta(seconds=i)), None)
            for i, name in enumerate(names) for k in range(messages)]
    for i in range(0, len(rows), 200):
        await store.insert_messages(rows[i:i + 200])


async def close_code(ws: ClientWebSocketResponse) -> int:
    async with asyncio.timeout(TIMEOUT):
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.CLOSE:
                return int(msg.data)
            assert msg.type == WSMsgType.TEXT, msg


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ---- creating rooms is capped per address ----

async def test_an_address_past_its_room_allowance_gets_room_limit_and_nothing_is_stored(
        make_client: MakeClient) -> None:
    client = await make_client(room_rate=0.001, room_burst=3)
    ws_connect = _connector(client)
    for i in range(3):
        ws = await ws_connect(f"new-{i}")
        await ws.send_json({"message": "first!", "client_id": f"c{i}"})
        assert (await recv_chats(ws, 1))[0]["room"] == f"new-{i}"
    ws = await ws_connect("new-3")
    await ws.send_json({"message": "one room too many", "client_id": "c3"})
    error = await recv(ws)
    assert error["type"] == "error" and error["error"] == "room_limit" and error["client_id"] == "c3"
    assert "too fast" in error["detail"] and "not created" in error["detail"]
    store = client.server.app[STORE]
    assert await store.room("new-3") is None
    assert (await (await client.get("/api/rooms/new-3/messages")).json())["messages"] == []
    assert 'data-room="new-3"' not in await (await client.get("/")).text()


async def test_posting_in_existing_rooms_is_never_held_back_by_the_room_allowance(
        make_client: MakeClient) -> None:
    client = await make_client(room_rate=0.001, room_burst=1)
    await seed(client.server.app[STORE], ["alpha", "beta", "gamma"], start=now())
    ws_connect = _connector(client)
    for room in ("alpha", "beta", "gamma", "alpha"):
        ws = await ws_connect(room)
        for i in range(5):
            await ws.send_json({"message": f"more {i}"})
        assert len(await recv_chats(ws, 5)) == 5
    fresh = await ws_connect("fresh")  # the one room this address may still create
    await fresh.send_json({"message": "hi"})
    assert (await recv_chats(fresh, 1))[0]["room"] == "fresh"
    again = await ws_connect("fresher")
    await again.send_json({"message": "hi"})
    assert (await recv(again))["error"] == "room_limit"


async def test_a_new_room_costs_its_creator_once_and_other_addresses_have_their_own_allowance(
        make_client: MakeClient) -> None:
    client = await make_client(room_rate=0.001, room_burst=1)
    writer = client.server.app[WRITER]
    # Five messages to one new room in one batch create it once.
    first = [writer.submit("fresh", "bot", f"m{i}", None, creator="198.51.100.7") for i in range(5)]
    assert [(await f).message.room for f in first] == ["fresh"] * 5
    with pytest.raises(NotStored) as refused:
        await writer.submit("another", "bot", "m", None, creator="198.51.100.7")
    assert refused.value.code == "room_limit"
    assert (await writer.submit("another", "bot", "m", None, creator="198.51.100.8")).message.room == "another"
    # Without a creator (the command line, tests, internal callers) nothing is counted.
    assert (await writer.submit("third", "bot", "m", None)).message.room == "third"


async def test_a_deleted_room_costs_a_creation_again_when_it_comes_back(make_client: MakeClient) -> None:
    client = await make_client(room_rate=0.001, room_burst=1)
    writer = client.server.app[WRITER]
    await seed(client.server.app[STORE], ["lobby"], start=now())
    assert (await writer.submit("lobby", "bot", "m", None, creator="198.51.100.7")).message.room == "lobby"
    await moderation.delete_room(client.server.app, "lobby")
    assert (await writer.submit("lobby", "bot", "m", None, creator="198.51.100.7")).message.room == "lobby"
    with pytest.raises(NotStored):  # the one token went on bringing lobby back
        await writer.submit("elsewhere", "bot", "m", None, creator="198.51.100.7")


def _connector(client: Client) -> WsConnect:
    async def connect(room: str, **params: Any) -> Any:
        return await client.ws_connect(f"/ws/{room}", params=params)
    return connect


# ---- the room list on / is a page, and reaches every room ----

async def test_the_index_shows_one_page_of_rooms_and_its_links_reach_every_room_exactly_once(
        client: Client) -> None:
    names = [f"flood-{i:04d}" for i in range(3000)]
    await seed(client.server.app[STORE], names, start=now() - dt.timedelta(hours=2))
    first = await (await client.get("/")).text()
    assert len(first) < 60_000
    assert _ROOM_ITEM.findall(first)[:3] == ["flood-2999", "flood-2998", "flood-2997"]  # latest first
    seen: list[str] = []
    page, pages = first, 0
    while True:
        items = _ROOM_ITEM.findall(page)
        assert 0 < len(items) <= 50
        seen += items
        pages += 1
        more = _MORE.search(page)
        if more is None:
            break
        response = await client.get(more.group(1).replace("&amp;", "&"))
        assert response.status == 200
        page = await response.text()
    assert pages == 60 and len(seen) == 3000 and set(seen) == set(names)


async def test_finding_a_room_by_name_reaches_beyond_the_first_page(client: Client) -> None:
    store = client.server.app[STORE]
    await seed(store, ["needle-in-haystack"], start=now() - dt.timedelta(days=3))
    await seed(store, [f"flood-{i:03d}" for i in range(200)], start=now() - dt.timedelta(hours=1))
    assert 'data-room="needle-in-haystack"' not in await (await client.get("/")).text()
    for q in ("haystack", "Needle", "#needle-in", "ne", "n"):
        page = await (await client.get("/", params={"q": q})).text()
        assert _ROOM_ITEM.findall(page) == ["needle-in-haystack"], q
        assert 'value="' + q + '"' in page
    flood = await (await client.get("/", params={"q": "flood-1"})).text()
    assert len(_ROOM_ITEM.findall(flood)) == 50 and _MORE.search(flood)  # 100 match: paged too
    nothing = await client.get("/", params={"q": "no such room!"})
    assert nothing.status == 200 and "No room name contains" in await nothing.text()


async def test_a_room_list_cursor_the_server_did_not_make_is_a_400(client: Client) -> None:
    for params in ({"after": "nonsense"}, {"q": "abc", "after": "x"}, {"q": "ab", "after": "NOT A NAME"}):
        assert (await client.get("/", params=params)).status == 400, params


# ---- the admin's table is a page too, and so is its five-second refresh ----

async def test_the_admin_table_and_its_refresh_show_one_page_with_totals_of_every_room(client: Client) -> None:
    await login(client)
    names = [f"flood-{i:04d}" for i in range(3000)]
    await seed(client.server.app[STORE], names, start=now() - dt.timedelta(hours=2))
    html = await (await client.get("/admin")).text()
    assert len(html) < 80_000 and html.count('<tr data-room="') == 50
    data = await (await client.get("/admin/api/rooms")).json()
    assert len(data["rooms"]) == 50
    assert data["totals"]["rooms"] == 3000 and data["totals"]["messages"] == 3000
    seen = [r["name"] for r in data["rooms"]]
    while data["more"] is not None:
        data = await (await client.get("/admin/api/rooms", params=data["more"])).json()
        seen += [r["name"] for r in data["rooms"]]
    assert len(seen) == 3000 and set(seen) == set(names)
    found = await (await client.get("/admin/api/rooms", params={"q": "flood-0007"})).json()
    assert [r["name"] for r in found["rooms"]] == ["flood-0007"]
    page = await (await client.get("/admin", params={"q": "flood-0007"})).text()
    assert '<tr data-room="flood-0007">' in page and 'data-rooms-api="/admin/api/rooms?q=flood-0007"' in page


# ---- deleting many rooms at once ----

async def test_bulk_delete_removes_the_quiet_new_rooms_and_nothing_else_and_audits_each(
        client: Client, ws_connect: WsConnect) -> None:
    token = await login(client)
    store = client.server.app[STORE]
    flood = [f"spam-{i:02d}" for i in range(12)]
    await seed(store, flood, start=now() - dt.timedelta(minutes=30))
    await seed(store, ["chatty"], start=now() - dt.timedelta(minutes=5), messages=3)
    await seed(store, ["old-quiet"], start=now() - dt.timedelta(days=2))

    preview = await client.get("/admin/bulk-delete", params={"max_messages": "1", "hours": "1"})
    text = await preview.text()
    assert preview.status == 200 and '<strong id="bulk-count">12</strong>' in text
    assert "#spam-00" in text and "#chatty" not in text and "#old-quiet" not in text
    assert [r.name for r in await store.rooms_named(flood)] != []  # a preview deletes nothing

    listening = await ws_connect("spam-03")
    await recv_type(listening, "presence")  # in the room before the delete
    response = await post(client, "/admin/bulk-delete", token, max_messages="1", hours="1")
    assert response.status == 303 and response.headers["Location"] == "/admin"
    assert await store.rooms_named(flood) == []
    assert {r.name for r in await store.rooms_named(["chatty", "old-quiet"])} == {"chatty", "old-quiet"}
    assert await store.totals() == (2, 4)
    assert await close_code(listening) == 4000
    entries, _ = await store.audit_entries(None, 100)
    bulk_entries = [e for e in entries if e.action == "delete_room"]
    assert sorted(e.room or "" for e in bulk_entries) == flood
    assert all("bulk: at most 1 message, last active in the last 1 hour" in (e.detail or "") for e in bulk_entries)
    assert "Deleted 12 rooms" in await (await client.get("/admin")).text()


async def test_bulk_delete_stops_at_its_per_click_limit_and_the_next_click_does_the_rest(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "BULK_LIMIT", 5)
    token = await login(client)
    store = client.server.app[STORE]
    await seed(store, [f"spam-{i}" for i in range(8)], start=now() - dt.timedelta(minutes=10))
    preview = await (await client.get("/admin/bulk-delete", params={"max_messages": "1", "hours": "1"})).text()
    assert '<strong id="bulk-count">more than 5</strong>' in preview
    await post(client, "/admin/bulk-delete", token, max_messages="1", hours="1")
    assert (await store.totals())[0] == 3
    assert "the limit for one click" in await (await client.get("/admin")).text()
    await post(client, "/admin/bulk-delete", token, max_messages="1", hours="1")
    assert (await store.totals())[0] == 0


async def test_bulk_delete_refuses_criteria_out_of_range(client: Client) -> None:
    token = await login(client)
    for bad in ({"max_messages": "0", "hours": "1"}, {"max_messages": "1", "hours": "²"},
                {"max_messages": "1", "hours": "100000"}, {}):
        assert (await client.get("/admin/bulk-delete", params=bad)).status == 400, bad
        assert (await post(client, "/admin/bulk-delete", token, **bad)).status == 400, bad
