"""Pages, the history API, migrations and restarts, through the real app and files."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, make_mocked_request

from chatapp.netutil import client_addr
from chatapp.settings import Settings
from chatapp.storage.sqlite.migrate import load_migrations, migrate

from .conftest import MakeClient, recv_chats


async def post_messages(client: TestClient[Any, Any], room: str, texts: list[str]) -> list[dict[str, Any]]:
    ws = await client.ws_connect(f"/ws/{room}", params={"user": "poster"})
    for text in texts:
        await ws.send_json({"message": text})
    frames = await recv_chats(ws, len(texts), timeout=20)
    await ws.close()
    return frames


async def test_the_room_page_renders_the_last_50_messages_oldest_first_before_any_script(
        client: TestClient[Any, Any]) -> None:
    frames = await post_messages(client, "hist", [f"message {i}" for i in range(60)])
    page = await (await client.get("/rooms/hist")).text()
    ids = [int(i) for i in re.findall(r'class="message[^"]*" data-id="(\d+)"', page)]
    assert ids == [f["id"] for f in frames[10:]]
    assert 'id="load-older"' in page and 'id="load-older" type="button" class="link" hidden' not in page
    # The <template> the page's script clones holds the same markup with no message in it.
    assert page.count('<template id="message-template">') == 1
    rendered = re.sub(r"<template\b.*?</template>", "", page, flags=re.S)
    assert rendered.count('class="user"') == 50 and rendered.count('class="text"') == 50
    assert "<time datetime=" in page


async def test_the_history_api_pages_backwards_and_forwards_by_id(client: TestClient[Any, Any]) -> None:
    frames = await post_messages(client, "pages", [f"m{i}" for i in range(120)])
    ids = [f["id"] for f in frames]

    newest = await (await client.get("/api/rooms/pages/messages")).json()
    assert [m["id"] for m in newest["messages"]] == ids[-50:] and newest["has_more"] is True
    assert newest["messages"][0] == frames[70]  # same shape as the chat frame

    older = await (await client.get("/api/rooms/pages/messages",
                                    params={"before": ids[70], "limit": 60})).json()
    assert [m["id"] for m in older["messages"]] == ids[10:70] and older["has_more"] is True
    oldest = await (await client.get("/api/rooms/pages/messages",
                                     params={"before": ids[10], "limit": 60})).json()
    assert [m["id"] for m in oldest["messages"]] == ids[:10] and oldest["has_more"] is False

    forward = await (await client.get("/api/rooms/pages/messages",
                                      params={"after": ids[99], "limit": 500})).json()
    assert [m["id"] for m in forward["messages"]] == ids[100:] and forward["has_more"] is False
    capped = await (await client.get("/api/rooms/pages/messages", params={"after": 0, "limit": 500})).json()
    assert len(capped["messages"]) == 120 and capped["has_more"] is False
    first = await (await client.get("/api/rooms/pages/messages", params={"after": 0, "limit": 1})).json()
    assert [m["id"] for m in first["messages"]] == ids[:1] and first["has_more"] is True


async def test_the_history_api_answers_bad_parameters_with_400_and_bad_rooms_with_404(
        client: TestClient[Any, Any]) -> None:
    for params in ({"before": "x"}, {"after": "-1"}, {"limit": "ten"}, {"before": "5", "after": "1"}):
        response = await client.get("/api/rooms/lobby/messages", params=params)
        assert response.status == 400, params
        assert (await response.json())["error"] == "bad_request"
    assert (await client.get("/api/rooms/no%20such/messages")).status == 404
    empty = await (await client.get("/api/rooms/never-used/messages")).json()
    assert empty == {"messages": [], "has_more": False}


async def test_the_index_lists_rooms_with_counts_and_opens_a_room(client: TestClient[Any, Any]) -> None:
    await post_messages(client, "alpha", ["a", "b", "c"])
    await post_messages(client, "beta", ["x"])
    page = await (await client.get("/")).text()
    assert 'name="room"' in page and 'name="user"' in page
    assert page.index('data-room="beta"') < page.index('data-room="alpha"')  # most recent first
    assert re.search(r'data-room="alpha".*?<span class="count">3</span>', page, re.S)
    response = await client.get("/enter", params={"room": "Alpha", "user": "zoe"}, allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/rooms/alpha?user=zoe"
    bad = await client.get("/enter", params={"room": "no good"}, allow_redirects=False)
    assert bad.headers["Location"].startswith("/?error=room")


async def test_health_reports_ok_when_the_database_answers(client: TestClient[Any, Any]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200 and await response.json() == {"status": "ok"}


async def test_messages_survive_an_app_restart_on_the_same_file(make_client: MakeClient) -> None:
    first = await make_client()
    await post_messages(first, "keep", ["before restart"])
    await first.close()
    second = await make_client()
    history = await (await second.get("/api/rooms/keep/messages")).json()
    assert [m["message"] for m in history["messages"]] == ["before restart"]
    await post_messages(second, "keep", ["after restart"])
    page = await (await second.get("/rooms/keep")).text()
    assert page.index("before restart") < page.index("after restart")


def test_migrations_apply_once_in_order_and_a_second_run_is_a_no_op(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(versions) and versions[0] == 1
    assert migrate(conn) == versions
    schema = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    assert migrate(conn) == []
    assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema
    assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")] == versions
    conn.close()


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    headers = {"X-Forwarded-For": "203.0.113.7, 10.0.0.2"}
    request = make_mocked_request("GET", "/", headers=headers)
    peer = request.remote or "unknown"
    assert client_addr(request, Settings()) == peer
    trusted = Settings(trusted_proxies=(peer, "10.0.0.2"))
    assert client_addr(request, trusted) == "203.0.113.7"
