"""Private rooms and direct messages: every path to one, walked as a guest, a member who is
not in it, a removed member and a deactivated member, through the real app."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from chatapp import moderation
from chatapp.settings import Settings

from .admin_client import login as operator_login
from .conftest import closed, db_execute, recv, recv_chats
from .member_client import Client, fresh_browser, sign_up, submit

SECRET_WORDS = "zebrafinch marmalade"
HIDDEN = "behind the hedge"  # in the message, never in a query: what must not show


async def _browsers(client: Client, aiohttp_client: Any) -> tuple[Client, Client, Client, Client]:
    """alice (#1), bob (#2) and carol (#3), each logged in in a browser of their own, and a guest."""
    await sign_up(client, "alice")
    bob, carol, guest = [await fresh_browser(client, aiohttp_client) for _ in range(3)]
    await sign_up(bob, "bob")
    await sign_up(carol, "carol")
    return client, bob, carol, guest


async def _create_private(browser: Client, room: str) -> None:
    response = await submit(browser, "/private/new", room=room)
    assert response.status == 303 and response.headers["Location"] == f"/rooms/{room}", await response.text()


async def _add(browser: Client, room: str, name: str) -> None:
    response = await submit(browser, f"/rooms/{room}/members", token_from=f"/rooms/{room}", name=name)
    assert response.status == 303, await response.text()


async def _remove(browser: Client, room: str, member_id: int) -> None:
    response = await submit(browser, f"/rooms/{room}/members/remove", token_from=f"/rooms/{room}",
                            member_id=str(member_id))
    assert response.status == 303, await response.text()


async def _say(browser: Client, room: str, text: str) -> int:
    ws = await browser.ws_connect(f"/ws/{room}")
    await ws.send_str(json.dumps({"message": text, "client_id": f"c-{abs(hash(text))}"}))
    (frame,) = await recv_chats(ws, 1)
    await ws.close()
    return int(frame["id"])


async def _handshake_status(browser: Client, room: str) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await browser.ws_connect(f"/ws/{room}")
    return refused.value.status


async def _sees_nothing_of(browser: Client, room: str, message_id: int, words: str = SECRET_WORDS) -> None:
    """Every read path answers as if ``room`` did not exist."""
    for path in ("/", f"/?q={room}", f"/?q={room[:2]}", f"/search?q={words}", f"/search?q={words}&room={room}"):
        page = await browser.get(path)
        assert page.status in (200, 400), path
        text = await page.text()
        assert HIDDEN not in text and f"#{room}" not in text and f"/rooms/{room}" not in text, path
    for path in (f"/rooms/{room}", f"/rooms/{room}?at={message_id}", f"/api/rooms/{room}/messages",
                 f"/api/rooms/{room}/messages?before={message_id + 1}", f"/api/rooms/{room}/messages?after=0"):
        response = await browser.get(path, allow_redirects=False)
        assert response.status == 404, path
        assert words not in await response.text()
    for query in (f"q={words}", f"q={words}&room={room}", f"q={words[:2]}"):
        found = await browser.get(f"/api/search?{query}")
        assert found.status == 200 and all(r["room"] != room for r in (await found.json())["results"]), query
    export = await browser.get(f"/api/rooms/{room}/export", allow_redirects=False)
    assert export.status != 200 and words not in await export.text()
    assert await _handshake_status(browser, room) == 404


async def _sees(browser: Client, room: str, message_id: int) -> None:
    assert room in await (await browser.get("/")).text()
    page = await browser.get(f"/rooms/{room}?at={message_id}")
    assert page.status == 200 and SECRET_WORDS in await page.text()
    history = await (await browser.get(f"/api/rooms/{room}/messages")).json()
    assert [m["id"] for m in history["messages"]] == [message_id]
    found = await (await browser.get(f"/api/search?q={SECRET_WORDS}")).json()
    assert [r["room"] for r in found["results"]] == [room]


async def test_a_private_room_is_invisible_on_every_path_to_guests_and_other_members(
        client: Client, aiohttp_client: Any) -> None:
    alice, bob, carol, guest = await _browsers(client, aiohttp_client)
    await _create_private(alice, "secret")
    await _add(alice, "secret", "Bob")
    message_id = await _say(alice, "secret", f"{SECRET_WORDS} {HIDDEN}")
    await _sees(alice, "secret", message_id)
    await _sees(bob, "secret", message_id)
    await _sees_nothing_of(carol, "secret", message_id)
    await _sees_nothing_of(guest, "secret", message_id)


async def test_a_private_room_looks_exactly_like_a_room_that_cannot_exist(client: Client, aiohttp_client: Any) -> None:
    alice, _, carol, _ = await _browsers(client, aiohttp_client)
    await _create_private(alice, "secret")
    hidden = await carol.get("/api/rooms/secret/messages")
    missing = await carol.get("/api/rooms/dm-7-8/messages")
    assert (hidden.status, await hidden.text()) == (missing.status, await missing.text())


async def test_search_fills_its_page_from_rooms_the_viewer_may_see(client: Client, aiohttp_client: Any) -> None:
    alice, _, carol, _ = await _browsers(client, aiohttp_client)
    await _create_private(alice, "secret")
    for i in range(3):
        await _say(alice, "secret", f"{SECRET_WORDS} {i}")
    public = await _say(carol, "lobby", f"{SECRET_WORDS} in public")
    found = await (await carol.get(f"/api/search?q={SECRET_WORDS}&limit=1")).json()
    assert [r["id"] for r in found["results"]] == [public]


async def test_a_removed_member_is_disconnected_at_once_and_sees_nothing_after(
        client: Client, aiohttp_client: Any) -> None:
    alice, bob, _, _ = await _browsers(client, aiohttp_client)
    await _create_private(alice, "secret")
    await _add(alice, "secret", "bob")
    bob_ws = await bob.ws_connect("/ws/secret")
    first = await _say(alice, "secret", "before the removal")
    assert (await recv(bob_ws))["id"] == first
    await _remove(alice, "secret", 2)
    assert await closed(bob_ws) == 4003
    later = await _say(alice, "secret", f"{SECRET_WORDS} {HIDDEN}")
    await _sees_nothing_of(bob, "secret", later)


async def test_a_deactivated_member_can_no_longer_open_their_private_room(
        client: Client, aiohttp_client: Any, settings: Settings) -> None:
    alice, bob, _, _ = await _browsers(client, aiohttp_client)
    await _create_private(alice, "secret")
    await _add(alice, "secret", "bob")
    message_id = await _say(alice, "secret", f"{SECRET_WORDS} {HIDDEN}")
    await db_execute(settings.db, "UPDATE members SET status = 'deactivated' WHERE id = 2")
    await _sees_nothing_of(bob, "secret", message_id)


async def test_the_operator_still_sees_and_exports_a_private_room(client: Client, aiohttp_client: Any) -> None:
    alice, _, _, guest = await _browsers(client, aiohttp_client)
    await _create_private(alice, "secret")
    await _say(alice, "secret", f"{SECRET_WORDS} {HIDDEN}")
    await operator_login(guest)
    export = await guest.get("/api/rooms/secret/export")
    assert export.status == 200 and SECRET_WORDS in await export.text()
    admin = await guest.get("/admin")
    assert "secret" in await admin.text()


async def test_sockets_open_on_a_free_name_are_closed_when_it_becomes_private(
        client: Client, aiohttp_client: Any, settings: Settings) -> None:
    alice, _, _, guest = await _browsers(client, aiohttp_client)
    early = await guest.ws_connect("/ws/secret")
    await _create_private(alice, "secret")
    assert await closed(early) == 4003
    await _say(alice, "secret", f"{SECRET_WORDS} {HIDDEN}")
    rows = await db_execute(settings.db, "SELECT \"user\" FROM messages WHERE room = 'secret'")
    assert rows == [("alice",)]


async def test_a_private_room_cannot_take_a_public_rooms_name(client: Client, aiohttp_client: Any) -> None:
    alice, _, carol, _ = await _browsers(client, aiohttp_client)
    public = await _say(carol, "lobby", "hello")
    response = await submit(alice, "/private/new", room="lobby")
    assert response.status == 409
    assert (await (await carol.get("/api/rooms/lobby/messages")).json())["messages"][0]["id"] == public


async def test_dm_names_cannot_be_used_for_public_or_private_rooms(client: Client, aiohttp_client: Any) -> None:
    alice, _, _, guest = await _browsers(client, aiohttp_client)
    assert await _handshake_status(guest, "dm-1-2") == 404
    assert await _handshake_status(alice, "dm-1-2") == 404  # not made yet: /dm/bob makes it
    assert (await submit(alice, "/private/new", room="dm-1-2")).status == 400


async def test_a_direct_message_is_for_its_two_members_only(client: Client, aiohttp_client: Any) -> None:
    alice, bob, carol, guest = await _browsers(client, aiohttp_client)
    opened = await alice.get("/dm/Bob", allow_redirects=False)
    assert opened.status == 302 and opened.headers["Location"] == "/rooms/dm-1-2"
    again = await bob.get("/dm/alice", allow_redirects=False)
    assert again.headers["Location"] == "/rooms/dm-1-2"
    message_id = await _say(alice, "dm-1-2", f"{SECRET_WORDS} {HIDDEN}")
    bob_index = await (await bob.get("/")).text()
    assert "Direct messages" in bob_index and "/rooms/dm-1-2" in bob_index
    page = await bob.get("/rooms/dm-1-2")
    assert page.status == 200 and SECRET_WORDS in await page.text()
    await _sees_nothing_of(carol, "dm-1-2", message_id)
    await _sees_nothing_of(guest, "dm-1-2", message_id)
    assert (await guest.get("/dm/bob", allow_redirects=False)).status == 302  # to the login page


async def test_members_of_a_direct_message_cannot_be_changed(client: Client, aiohttp_client: Any) -> None:
    alice, _, _, _ = await _browsers(client, aiohttp_client)
    await alice.get("/dm/bob")
    response = await submit(alice, "/rooms/dm-1-2/members", token_from="/private/new", name="carol")
    assert response.status == 404


async def test_member_panel_posts_need_the_csrf_token(client: Client, aiohttp_client: Any) -> None:
    alice, _, _, _ = await _browsers(client, aiohttp_client)
    await _create_private(alice, "secret")
    response = await alice.post("/rooms/secret/members", data={"name": "bob"}, allow_redirects=False)
    assert response.status == 403
    create = await alice.post("/private/new", data={"room": "other"}, allow_redirects=False)
    assert create.status == 403


async def test_a_non_member_cannot_add_themselves_to_a_private_room(client: Client, aiohttp_client: Any) -> None:
    alice, _, carol, _ = await _browsers(client, aiohttp_client)
    await _create_private(alice, "secret")
    response = await submit(carol, "/rooms/secret/members", token_from="/private/new", name="carol")
    assert response.status == 404


async def test_typing_in_a_private_room_reaches_its_members_only(client: Client, aiohttp_client: Any) -> None:
    alice, bob, carol, _ = await _browsers(client, aiohttp_client)
    await _create_private(alice, "secret")
    await _add(alice, "secret", "bob")
    bob_ws = await bob.ws_connect("/ws/secret")
    carol_ws = await carol.ws_connect("/ws/lobby")
    alice_ws = await alice.ws_connect("/ws/secret")
    await alice_ws.send_str(json.dumps({"type": "typing"}))
    frame = await recv(bob_ws, skip=("presence",))
    assert frame == {"type": "typing", "user": "alice", "room": "secret"}
    with pytest.raises(TimeoutError):
        await recv(carol_ws, timeout=0.3)
    await asyncio.gather(alice_ws.close(), bob_ws.close(), carol_ws.close())


async def test_a_deleted_private_rooms_name_is_free_again_for_everyone(client: Client, aiohttp_client: Any) -> None:
    alice, _, carol, _ = await _browsers(client, aiohttp_client)
    await _create_private(alice, "secret")
    assert (await carol.get("/rooms/secret")).status == 404
    await moderation.delete_room(client.app, "secret")
    assert (await carol.get("/rooms/secret")).status == 200  # a new, empty public room


async def test_not_even_the_operator_finds_or_reads_a_direct_message(client: Client, aiohttp_client: Any) -> None:
    alice, _, _, guest = await _browsers(client, aiohttp_client)
    await alice.get("/dm/bob")
    await _say(alice, "dm-1-2", f"{SECRET_WORDS} {HIDDEN}")
    await operator_login(guest)
    for path in ("/admin", "/admin?q=dm", "/admin/api/rooms", "/admin/api/rooms?q=dm-1",
                 "/admin/bulk-delete?max_messages=1000&hours=720"):
        response = await guest.get(path)
        assert response.status == 200, path
        assert "dm-1-2" not in await response.text(), path
    for path in ("/admin/rooms/dm-1-2", "/api/rooms/dm-1-2/export"):
        assert (await guest.get(path, allow_redirects=False)).status == 404, path
    found = await (await guest.get(f"/api/search?q={SECRET_WORDS}")).json()
    assert found["results"] == []
