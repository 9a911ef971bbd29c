"""Edits, deletes, replies and reactions: who may make them, how everyone sees them live,
and how a page that was away is sent them, once and in order, when it resumes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient

from chatapp import moderation, retention
from chatapp.keys import STORE

from .conftest import db_execute, recv, recv_type
from .member_client import fresh_browser, sign_up

Client = TestClient[Any, Any]


async def member(client: Client, aiohttp_client: Any, name: str, role: str = "member") -> Client:
    browser = await fresh_browser(client, aiohttp_client)
    await sign_up(browser, name)
    if role != "member":
        await db_execute(client.app[STORE].path, "UPDATE members SET role = ? WHERE name = ?", role, name)
    return browser


async def say(ws: ClientWebSocketResponse, text: str, **extra: Any) -> dict[str, Any]:
    await ws.send_json({"message": text, **extra})
    return await recv_type(ws, "chat")


async def history(client: Client, room: str = "lobby", **params: Any) -> list[dict[str, Any]]:
    page = await (await client.get(f"/api/rooms/{room}/messages", params=params)).json()
    messages: list[dict[str, Any]] = page["messages"]
    return messages


async def test_a_member_edits_their_message_and_everyone_sees_the_new_text(
        client: Client, aiohttp_client: Any) -> None:
    alice = await member(client, aiohttp_client, "alice")
    ws = await alice.ws_connect("/ws/lobby")
    watcher = await client.ws_connect("/ws/lobby")
    sent = await say(ws, "teh plan")
    assert (await recv(watcher))["id"] == sent["id"]
    await ws.send_json({"type": "edit", "id": sent["id"], "message": "the **plan**"})
    edit = await recv_type(watcher, "edit")
    assert edit["id"] == sent["id"] and edit["event_id"] > sent["id"]
    assert edit["message"] == "the **plan**"
    assert "<strong>plan</strong>" in edit["html"]
    assert edit["edited_at"]
    stored = (await history(client))[0]
    assert stored["message"] == "the **plan**" and stored["edited_at"] == edit["edited_at"]
    found = await (await client.get("/api/search", params={"q": "plan"})).json()
    assert [h["id"] for h in found["results"]] == [sent["id"]]
    assert (await (await client.get("/api/search", params={"q": "teh"})).json())["results"] == []
    page = await (await client.get("/rooms/lobby")).text()
    assert "(edited)" in page and "<strong>plan</strong>" in page


async def test_nobody_edits_or_deletes_someone_elses_message_and_the_socket_stays_open(
        client: Client, aiohttp_client: Any) -> None:
    alice = await member(client, aiohttp_client, "alice")
    bob = await member(client, aiohttp_client, "bob")
    a = await alice.ws_connect("/ws/lobby")
    b = await bob.ws_connect("/ws/lobby")
    sent = await say(a, "mine")
    await recv_type(b, "chat")
    await b.send_json({"type": "edit", "id": sent["id"], "message": "yours now"})
    assert (await recv_type(b, "error"))["error"] == "forbidden"
    await b.send_json({"type": "delete", "id": sent["id"]})
    assert (await recv_type(b, "error"))["error"] == "forbidden"
    assert (await say(b, "still here"))["message"] == "still here"
    assert [m["message"] for m in await history(client)] == ["mine", "still here"]


async def test_guests_may_reply_but_not_edit_delete_or_react(client: Client, aiohttp_client: Any) -> None:
    alice = await member(client, aiohttp_client, "alice")
    a = await alice.ws_connect("/ws/lobby")
    guest = await client.ws_connect("/ws/lobby", params={"user": "visitor"})
    sent = await say(a, "hello")
    await recv_type(guest, "chat")
    mine = await say(guest, "hi")
    for frame in ({"type": "edit", "id": mine["id"], "message": "x"}, {"type": "delete", "id": mine["id"]},
                  {"type": "react", "id": sent["id"], "emoji": "👍"}):
        await guest.send_json(frame)
        assert (await recv_type(guest, "error"))["error"] == "members_only"
    reply = await say(guest, "hello to you", reply_to=sent["id"])
    assert reply["reply_to"] == sent["id"]
    assert reply["reply"] == {"id": sent["id"], "user": "alice", "excerpt": "hello"}


async def test_a_member_deletes_their_own_message_and_an_admin_anyones(
        client: Client, aiohttp_client: Any) -> None:
    boss = await member(client, aiohttp_client, "boss", role="admin")
    alice = await member(client, aiohttp_client, "alice")
    a = await alice.ws_connect("/ws/lobby")
    admin = await boss.ws_connect("/ws/lobby")
    first = await say(a, "oops")
    second = await say(a, "spam")
    await a.send_json({"type": "delete", "id": first["id"]})
    gone = await recv_type(admin, "delete")
    assert gone["id"] == first["id"] and gone["event_id"] > second["id"]
    assert (await recv_type(a, "delete"))["id"] == first["id"]
    await admin.send_json({"type": "delete", "id": second["id"]})
    assert (await recv_type(a, "delete"))["id"] == second["id"]
    assert await history(client) == []
    await a.send_json({"type": "delete", "id": second["id"]})
    assert (await recv_type(a, "error"))["error"] == "message_not_found"


async def test_reactions_toggle_and_say_who_reacted(client: Client, aiohttp_client: Any) -> None:
    alice = await member(client, aiohttp_client, "alice")
    bob = await member(client, aiohttp_client, "bob")
    a = await alice.ws_connect("/ws/lobby")
    b = await bob.ws_connect("/ws/lobby")
    sent = await say(a, "ship it?")
    async def react(ws: ClientWebSocketResponse, emoji: str) -> list[dict[str, Any]]:
        await ws.send_json({"type": "react", "id": sent["id"], "emoji": emoji})
        seen = [(await recv_type(w, "reactions"))["reactions"] for w in (a, b)]
        assert seen[0] == seen[1]
        return seen[0]

    assert await react(b, "👍") == [{"emoji": "👍", "count": 1, "users": ["bob"]}]
    assert await react(a, "👍") == [{"emoji": "👍", "count": 2, "users": ["bob", "alice"]}]
    await react(a, "🎉")
    final = {"reactions": await react(b, "👍")}  # taken back
    assert final["reactions"] == [{"emoji": "👍", "count": 1, "users": ["alice"]},
                                  {"emoji": "🎉", "count": 1, "users": ["alice"]}]
    assert (await history(client))[0]["reactions"] == final["reactions"]
    page = await (await client.get("/rooms/lobby")).text()
    assert 'data-emoji="🎉"' in page


async def test_a_reaction_must_be_an_emoji_and_a_message_has_at_most_twenty(
        client: Client, aiohttp_client: Any) -> None:
    alice = await member(client, aiohttp_client, "alice")
    a = await alice.ws_connect("/ws/lobby")
    sent = await say(a, "react to me")
    for bad in ("a", "", "👍" * 40, 5, None, "<b>", "👍 "):
        await a.send_json({"type": "react", "id": sent["id"], "emoji": bad})
        assert (await recv_type(a, "error"))["error"] == "invalid_emoji", bad
    for bad_id in (0, -1, "1", True, 2**64, None):
        await a.send_json({"type": "react", "id": bad_id, "emoji": "👍"})
        assert (await recv_type(a, "error"))["error"] == "invalid_id", bad_id
    emoji = [chr(0x1F600 + i) for i in range(21)]
    for e in emoji[:20]:
        await a.send_json({"type": "react", "id": sent["id"], "emoji": e})
        await recv_type(a, "reactions")
    await a.send_json({"type": "react", "id": sent["id"], "emoji": emoji[20]})
    assert (await recv_type(a, "error"))["error"] == "too_many_reactions"
    await a.send_json({"type": "react", "id": sent["id"], "emoji": "👨‍👩‍👧"})  # a ZWJ family is one emoji
    assert (await recv_type(a, "error"))["error"] == "too_many_reactions"


async def test_a_reply_quotes_its_original_and_says_when_that_is_deleted(
        client: Client, aiohttp_client: Any) -> None:
    alice = await member(client, aiohttp_client, "alice")
    a = await alice.ws_connect("/ws/lobby")
    original = await say(a, "where is the *meeting*?\nsecond line " + "x" * 300)
    reply = await say(a, "room 4", reply_to=original["id"])
    assert reply["reply"]["user"] == "alice"
    assert reply["reply"]["excerpt"].startswith("where is the meeting? second line")  # without its Markdown
    assert len(reply["reply"]["excerpt"]) <= 120
    page = await (await client.get("/rooms/lobby")).text()
    assert f'href="/rooms/lobby?at={original["id"]}#m{original["id"]}"' in page
    await a.send_json({"type": "delete", "id": original["id"]})
    await recv_type(a, "delete")
    assert (await history(client))[0]["reply"] == {"id": original["id"], "deleted": True}
    assert "The original message was deleted." in await (await client.get("/rooms/lobby")).text()


async def test_a_reply_to_another_rooms_message_is_refused_and_quotes_nothing_of_it(
        client: Client, aiohttp_client: Any) -> None:
    alice = await member(client, aiohttp_client, "alice")
    a = await alice.ws_connect("/ws/elsewhere")
    secret = await say(a, "elsewhere only")
    guest = await client.ws_connect("/ws/lobby")
    await guest.send_json({"message": "what did it say?", "reply_to": secret["id"], "client_id": "c1"})
    refused = await recv_type(guest, "error")
    assert refused["error"] == "reply_not_found" and refused["client_id"] == "c1"
    await guest.send_json({"message": "x", "reply_to": "1"})
    assert (await recv_type(guest, "error"))["error"] == "reply_not_found"
    assert await history(client) == []


async def test_a_page_that_was_away_gets_every_change_once_and_in_order(
        client: Client, aiohttp_client: Any) -> None:
    alice = await member(client, aiohttp_client, "alice")
    bob = await member(client, aiohttp_client, "bob")
    a = await alice.ws_connect("/ws/lobby")
    edited = await say(a, "draft")
    deleted = await say(a, "to go")
    reacted = await say(a, "nice")
    away = await bob.ws_connect("/ws/lobby", params={"after": str(reacted["id"])})
    await away.close()  # bob's page is cut off here
    await a.send_json({"type": "edit", "id": edited["id"], "message": "final"})
    await recv_type(a, "edit")
    await a.send_json({"type": "react", "id": reacted["id"], "emoji": "🎉"})
    await recv_type(a, "reactions")
    await a.send_json({"type": "delete", "id": deleted["id"]})
    await recv_type(a, "delete")
    new = await say(a, "news")
    await a.send_json({"type": "edit", "id": edited["id"], "message": "final final"})
    last = await recv_type(a, "edit")
    back = await bob.ws_connect("/ws/lobby", params={"after": str(reacted["id"])})
    frames = [await recv(back) for _ in range(4)]
    assert [(f["type"], f["id"]) for f in frames] == [
        ("reactions", reacted["id"]), ("delete", deleted["id"]), ("chat", new["id"]), ("edit", edited["id"])]
    assert frames[-1]["message"] == "final final"  # only the newest edit of a message is kept
    cursors = [f.get("event_id", f["id"]) for f in frames]
    assert cursors == sorted(cursors) and cursors[-1] == last["event_id"]
    # Resuming after the last of them brings nothing again.
    again = await bob.ws_connect("/ws/lobby", params={"after": str(last["event_id"])})
    await a.send_json({"message": "fresh"})
    assert (await recv(again))["message"] == "fresh"


async def test_a_page_that_was_away_during_a_clear_is_told_and_gets_only_what_followed(
        client: Client, aiohttp_client: Any) -> None:
    alice = await member(client, aiohttp_client, "alice")
    a = await alice.ws_connect("/ws/lobby")
    seen = await say(a, "before")
    await moderation.clear(client.app, "lobby")
    after = await say(a, "after")
    back = await client.ws_connect("/ws/lobby", params={"after": str(seen["id"])})
    clear = await recv(back)
    assert clear["type"] == "clear" and seen["id"] < clear["event_id"] < after["id"]
    assert (await recv(back))["id"] == after["id"]


async def test_a_locked_room_refuses_edits_and_reactions_but_lets_authors_delete(
        client: Client, aiohttp_client: Any) -> None:
    alice = await member(client, aiohttp_client, "alice")
    a = await alice.ws_connect("/ws/lobby")
    sent = await say(a, "before the lock")
    await moderation.set_locked(client.app, "lobby", True)
    await a.send_json({"type": "edit", "id": sent["id"], "message": "after"})
    assert (await recv_type(a, "error"))["error"] == "room_locked"
    await a.send_json({"type": "react", "id": sent["id"], "emoji": "👍"})
    assert (await recv_type(a, "error"))["error"] == "room_locked"
    await a.send_json({"type": "delete", "id": sent["id"]})
    assert (await recv_type(a, "delete"))["id"] == sent["id"]


async def test_unknown_operations_get_an_error_frame_never_silence(client: Client, ws_connect: Any) -> None:
    ws = await ws_connect()
    await ws.send_json({"type": "pin", "id": 1})
    assert (await recv_type(ws, "error"))["error"] == "unknown_type"
    await ws.send_json({"type": "edit", "id": 1})
    assert (await recv_type(ws, "error"))["error"] in ("members_only", "invalid_message")


async def test_export_holds_edits_reactions_and_replies_and_retention_drops_old_changes(
        client: Client, aiohttp_client: Any) -> None:
    alice = await member(client, aiohttp_client, "alice", role="admin")
    a = await alice.ws_connect("/ws/lobby")
    sent = await say(a, "v1")
    reply = await say(a, "re", reply_to=sent["id"])
    await a.send_json({"type": "edit", "id": sent["id"], "message": "v2"})
    await recv_type(a, "edit")
    await a.send_json({"type": "react", "id": reply["id"], "emoji": "👀"})
    await recv_type(a, "reactions")
    lines = (await (await alice.get("/api/rooms/lobby/export")).text()).splitlines()
    exported = [__import__("json").loads(line) for line in lines]
    assert exported[0]["message"] == "v2" and exported[0]["edited_at"]
    assert exported[1]["reply_to"] == sent["id"] and exported[1]["reactions"][0]["emoji"] == "👀"
    db = client.app[STORE].path
    assert len(await db_execute(db, "SELECT id FROM room_events WHERE room = 'lobby'")) == 2
    await client.app[STORE].set_retention("lobby", 1)
    await retention.run_once(client.app[STORE], dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    assert await db_execute(db, "SELECT id FROM room_events") == []
    assert await history(client) == []
