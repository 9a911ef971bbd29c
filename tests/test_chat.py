"""The core chat over real sockets: broadcast, isolation, resume, de-duplication."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from .conftest import MakeClient, recv, recv_chats, whole_history


async def test_two_clients_in_a_room_both_get_a_message_with_id_and_ts(ws_connect: Any) -> None:
    alice = await ws_connect("lobby", user="alice")
    bob = await ws_connect("lobby", user="bob")
    await alice.send_json({"message": "hello bob"})
    for ws in (alice, bob):
        frame = await recv(ws)
        assert frame["type"] == "chat"
        assert frame["message"] == "hello bob"
        assert frame["user"] == "alice"
        assert frame["room"] == "lobby"
        assert isinstance(frame["id"], int) and frame["id"] > 0
        assert frame["ts"].endswith("Z") and "T" in frame["ts"]
        assert frame["client_id"] is None


async def test_rooms_are_isolated(ws_connect: Any) -> None:
    a = await ws_connect("red")
    b = await ws_connect("blue")
    await a.send_json({"message": "only red"})
    await b.send_json({"message": "only blue"})
    assert (await recv(a))["message"] == "only red"
    assert (await recv(b))["message"] == "only blue"
    await a.send_json({"message": "red again"})
    assert (await recv(a))["message"] == "red again"
    await b.send_json({"message": "blue again"})
    assert (await recv(b))["message"] == "blue again"


async def test_the_channels_style_bare_frame_is_from_anonymous(ws_connect: Any) -> None:
    ws = await ws_connect("lobby")
    await ws.send_str('{"message": "hi"}')
    frame = await recv(ws)
    assert frame["user"] == "Anonymous"
    assert frame["message"] == "hi"


async def test_user_defaults_to_the_connections_name_and_a_frame_may_name_another(ws_connect: Any) -> None:
    ws = await ws_connect("lobby", user="carol")
    await ws.send_json({"message": "one"})
    assert (await recv(ws))["user"] == "carol"
    await ws.send_json({"message": "two", "user": "caroline", "extra": [1, 2]})
    assert (await recv(ws))["user"] == "caroline"


async def test_room_names_are_case_insensitive(ws_connect: Any) -> None:
    upper = await ws_connect("Lobby")
    lower = await ws_connect("lobby")
    await upper.send_json({"message": "same room"})
    assert (await recv(lower))["room"] == "lobby"


async def test_an_invalid_room_name_is_refused(client: TestClient[Any, Any]) -> None:
    for bad in ("a%20b", "x" * 65, "semi%3Bcolon", "%C3%A9t%C3%A9"):
        response = await client.get(f"/ws/{bad}", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                           "Sec-WebSocket-Version": "13",
                                                           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert response.status == 404, bad
        page = await client.get(f"/rooms/{bad}")
        assert page.status == 404
        assert "text/html" in page.headers["Content-Type"]


async def test_resume_with_after_delivers_exactly_the_missed_messages_once_in_order(ws_connect: Any) -> None:
    sender = await ws_connect("lobby")
    await sender.send_json({"message": "seen"})
    seen = await recv(sender)
    for i in range(30):
        await sender.send_json({"message": f"missed {i}"})
    missed = await recv_chats(sender, 30)
    late = await ws_connect("lobby", after=seen["id"])
    await sender.send_json({"message": "live"})
    frames = await recv_chats(late, 31)
    assert [f["message"] for f in frames] == [f"missed {i}" for i in range(30)] + ["live"]
    assert [f["id"] for f in frames[:30]] == [f["id"] for f in missed]
    ids = [f["id"] for f in frames]
    assert ids == sorted(set(ids))


async def test_resume_while_messages_keep_arriving_has_no_gap_and_no_duplicate(ws_connect: Any) -> None:
    sender = await ws_connect("busy")
    total = 600
    for i in range(200):
        await sender.send_json({"message": f"m{i}"})
    first = (await recv_chats(sender, 1))[0]

    async def keep_sending() -> None:
        for i in range(200, total):
            await sender.send_json({"message": f"m{i}"})
            if i % 50 == 0:
                await asyncio.sleep(0)

    task = asyncio.create_task(keep_sending())
    late = await ws_connect("busy", after=first["id"])
    await task
    frames = await recv_chats(late, total - 1, timeout=15)
    assert [f["message"] for f in frames] == [f"m{i}" for i in range(1, total)]


async def test_a_retried_client_id_is_stored_and_broadcast_once(ws_connect: Any, client: TestClient[Any, Any]) -> None:
    alice = await ws_connect("lobby")
    bob = await ws_connect("lobby")
    await alice.send_json({"message": "once", "client_id": "abc-1"})
    original = await recv(alice)
    assert original["client_id"] == "abc-1"
    assert (await recv(bob))["id"] == original["id"]
    await alice.send_json({"message": "once", "client_id": "abc-1"})
    again = await recv(alice)
    assert again == original
    await alice.send_json({"message": "after"})
    assert (await recv(bob))["message"] == "after"  # bob never saw the retry
    history = await (await client.get("/api/rooms/lobby/messages")).json()
    assert [m["message"] for m in history["messages"]] == ["once", "after"]


async def test_the_same_client_id_in_one_batch_is_stored_once(ws_connect: Any, client: TestClient[Any, Any]) -> None:
    ws = await ws_connect("lobby")
    for _ in range(5):
        await ws.send_json({"message": "dup", "client_id": "same"})
    frames = await recv_chats(ws, 5)
    assert len({f["id"] for f in frames}) == 1
    history = await (await client.get("/api/rooms/lobby/messages")).json()
    assert len(history["messages"]) == 1


async def test_the_same_client_id_in_another_room_is_another_message(ws_connect: Any) -> None:
    a = await ws_connect("one")
    b = await ws_connect("two")
    await a.send_json({"message": "x", "client_id": "k"})
    await b.send_json({"message": "y", "client_id": "k"})
    fa, fb = await recv(a), await recv(b)
    assert fa["id"] != fb["id"] and fb["message"] == "y"


async def test_forty_concurrent_senders_all_arrive_everywhere_in_one_order(make_client: MakeClient) -> None:
    client = await make_client()
    senders = [await client.ws_connect("/ws/crowd", params={"user": f"u{i}"}) for i in range(40)]
    per_sender = 25

    async def send_all(i: int, ws: Any) -> None:
        for j in range(per_sender):
            await ws.send_json({"message": f"{i}:{j}", "client_id": f"{i}-{j}"})

    await asyncio.gather(*(send_all(i, ws) for i, ws in enumerate(senders)))
    total = 40 * per_sender
    received = await asyncio.gather(*(recv_chats(ws, total, timeout=30) for ws in senders))
    orders = [[f["id"] for f in frames] for frames in received]
    assert all(order == orders[0] for order in orders)
    assert orders[0] == sorted(orders[0]) and len(set(orders[0])) == total
    for i in range(40):  # each sender's own messages keep their order
        mine = [f["message"] for f in received[0] if f["user"] == f"u{i}"]
        assert mine == [f"{i}:{j}" for j in range(per_sender)]
    assert [m["id"] for m in await whole_history(client, "crowd")] == orders[0]
