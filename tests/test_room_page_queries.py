"""The room page's cost and freshness (issue 17): a member in 50 rooms gets a page of formatted
messages, replies and reactions with one sidebar query and no more statements than a member
in one room; and the pieces the page keeps rendered (chatapp/fragments.py) never go stale."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from chatapp.keys import STORE

from .attention_client import Client, members, post, say, until
from .conftest import recv_type
from .member_client import fresh_browser

_FORMATTED = ["**bold** and `code`", "see https://example.com/a?b=1&c=2", "list:\n- one\n- **two**",
              "code:\n```\nx < y\n```", "plain words", "> quoted\n\nanswer"]


async def _statements(client: Client, browser: Client, path: str) -> list[str]:
    """Every SQL statement the storage's connections ran while ``browser`` loaded ``path``."""
    store = client.server.app[STORE]
    statements: list[str] = []
    for conn in store._all:  # type: ignore[attr-defined]  # every connection the storage holds
        await conn.set_trace_callback(statements.append)
    try:
        page = await browser.get(path)
        assert page.status == 200, await page.text()
        await page.read()
    finally:
        for conn in store._all:  # type: ignore[attr-defined]
            await conn.set_trace_callback(None)
    return statements


async def _in_rooms(db: str, member_id: int, rooms: list[str]) -> None:
    def run() -> None:
        conn = sqlite3.connect(db)
        try:
            conn.executemany("INSERT INTO attention (member_id, room, last_read, joined_at) VALUES (?, ?, 0, ?)",
                             [(member_id, room, "2024-01-01T00:00:00.000Z") for room in rooms])
            conn.commit()
        finally:
            conn.close()
    await asyncio.to_thread(run)


@pytest.mark.sqlite_only(reason="counts the statements SQLite connections run (a trace callback)")
async def test_a_member_in_50_rooms_gets_a_formatted_room_page_with_one_sidebar_query(
        client: Client, aiohttp_client: Any, settings: Any) -> None:
    alice, bob, carol = await members(client, aiohttp_client, "alice", "bob", "carol")
    ws = await alice.ws_connect("/ws/busy")
    ids = []
    for i in range(60):  # formatted messages, a reply every fifth
        frame: dict[str, Any] = {"message": _FORMATTED[i % len(_FORMATTED)], "client_id": f"c{i}"}
        if i % 5 == 4:
            frame["reply_to"] = ids[-2]
        await ws.send_json(frame)
        ids.append((await recv_type(ws, "chat"))["id"])
    for message_id in ids[-30::3]:  # reactions on some
        await ws.send_json({"type": "react", "id": message_id, "emoji": "👍"})
        await until(ws, "reactions", id=message_id)
    await ws.close()
    await post(carol, "quiet", "the one room carol has")
    await _in_rooms(settings.db, 2, [f"room-{i}" for i in range(49)])  # bob: these and busy
    await (await bob.get("/rooms/busy")).read()  # joins his sidebar: the 50th room
    await (await carol.get("/rooms/busy")).read()  # carol's: quiet and busy

    busy = await _statements(client, bob, "/rooms/busy")
    small = await _statements(client, carol, "/rooms/busy")

    page = await (await bob.get("/rooms/busy")).text()
    assert page.count('<li class="rooms-item') - 1 == 50  # the item <template> aside
    assert page.count('<li class="message') - 1 == 50 and "<strong>bold</strong>" in page
    assert 'class="reply-quote' in page and 'class="reaction"' in page
    sidebar = [s for s in busy if "FROM attention" in s]
    assert len(sidebar) == 1, sidebar
    # Nothing is asked per room or per message: 50 rooms cost what two do.
    assert len(busy) == len(small), (busy, small)
    # The session with its member, the messages, the sidebar: three statements in all.
    assert len(busy) == 3 and "FROM sessions AS s LEFT JOIN members" in busy[0], busy


async def test_a_kept_message_shows_its_edit_its_reactions_and_its_quote_going_away(
        client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    ws = await alice.ws_connect("/ws/lobby")
    original = await say(ws, "the **first** words")
    answer = await say(ws, "an answer")
    await ws.send_json({"message": "quoting it", "client_id": "q", "reply_to": original["id"]})
    quoting = await recv_type(ws, "chat")
    before = await (await bob.get("/rooms/lobby")).text()  # rendered now, and kept
    assert "<strong>first</strong>" in before and 'class="reply-excerpt">the first words<' in before

    await ws.send_json({"type": "edit", "id": original["id"], "message": "the _second_ words"})
    await until(ws, "edit", id=original["id"])
    await ws.send_json({"type": "react", "id": answer["id"], "emoji": "🎉"})
    await until(ws, "reactions", id=answer["id"])
    after = await (await bob.get("/rooms/lobby")).text()
    assert "<em>second</em>" in after and "<strong>first</strong>" not in after
    assert 'data-emoji="🎉"' in after and 'class="reply-excerpt">the second words<' in after

    await ws.send_json({"type": "delete", "id": original["id"]})
    await until(ws, "delete", id=original["id"])
    gone = await (await bob.get("/rooms/lobby")).text()
    assert f'id="m{original["id"]}"' not in gone
    assert f'data-reply-to="{original["id"]}"' in gone and "The original message was deleted." in gone
    assert f'id="m{quoting["id"]}"' in gone
    await ws.close()


async def test_only_the_author_sees_their_source_on_a_kept_page(client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    guest = await fresh_browser(client, aiohttp_client)
    await post(alice, "lobby", "mine & *yours*")
    for _ in range(2):  # the second time from what was kept
        assert 'data-source="mine &amp; *yours*"' in await (await alice.get("/rooms/lobby")).text()
        assert "data-source" not in await (await bob.get("/rooms/lobby")).text()
        assert "data-source" not in await (await guest.get("/rooms/lobby")).text()
