"""Floods that cost the server without sending a message: every frame pays, and so does
every address across all its sockets (issue 11, items 5 and 6)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType

from chatapp import ws as ws_module

from .conftest import TIMEOUT, MakeClient, recv, recv_type


async def drain_until_closed(ws: ClientWebSocketResponse) -> tuple[list[dict[str, Any]], int | None]:
    """Every text frame until the server closes the socket, and its close code."""
    frames = []
    async with asyncio.timeout(TIMEOUT):
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.TEXT:
                frames.append(json.loads(msg.data))
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
                return frames, ws.close_code


async def test_a_stream_of_invalid_frames_is_closed_and_gets_few_error_replies(make_client: MakeClient) -> None:
    client = await make_client(msg_rate=5, msg_burst=20)
    bystander = await client.ws_connect("/ws/lobby")
    flooder = await client.ws_connect("/ws/lobby")
    for _ in range(1500):
        await flooder.send_str("{not json")
    frames, code = await drain_until_closed(flooder)
    errors = [f for f in frames if f["type"] == "error"]
    assert code == 1008
    assert len(errors) <= ws_module.ERROR_BURST + 5, len(errors)  # not 1,500 replies
    await bystander.send_json({"message": "still here"})
    assert (await recv(bystander))["message"] == "still here"


async def test_typing_frames_cost_from_the_budget_and_a_typing_flood_is_closed(make_client: MakeClient) -> None:
    client = await make_client(msg_rate=5, msg_burst=20)
    watcher = await client.ws_connect("/ws/lobby", params={"user": "watcher"})
    await recv_type(watcher, "presence")
    flooder = await client.ws_connect("/ws/lobby", params={"user": "typist"})
    for _ in range(1000):
        await flooder.send_json({"type": "typing"})
    _, code = await drain_until_closed(flooder)
    assert code == 1008
    await watcher.send_json({"message": "and the room goes on"})
    seen = []
    while (frame := await recv(watcher, skip=("presence",)))["type"] != "chat":
        seen.append(frame)
    assert len([f for f in seen if f["type"] == "typing"]) <= 2  # relayed at most once a second


async def test_large_invalid_frames_cost_by_their_size(make_client: MakeClient) -> None:
    client = await make_client(msg_rate=5, msg_burst=20)  # 80 tokens at once, 20 a second
    ws = await client.ws_connect("/ws/lobby")
    big = "[" + "1," * 30_000 + "x"  # ~60 KB of invalid JSON: 15 tokens each
    for _ in range(6):
        await ws.send_str(big)
    codes = [(await recv(ws))["error"] for _ in range(6)]
    assert codes[:5] == ["invalid_json"] * 5
    assert codes[5] == "rate_limited"  # the sixth was not even parsed


async def test_one_address_is_limited_across_all_its_sockets(make_client: MakeClient) -> None:
    client = await make_client(address_rate=0.01, address_burst=6, trusted_proxies=("127.0.0.1",))
    sockets = [await client.ws_connect("/ws/lobby", headers={"X-Forwarded-For": "203.0.113.7"})
               for _ in range(3)]
    for i, ws in enumerate(sockets):
        for j in range(4):
            await ws.send_json({"message": f"from {i}.{j}", "client_id": f"{i}-{j}"})
    outcomes: dict[str, str] = {}
    for ws in sockets:
        while len([k for k in outcomes if k.startswith(str(sockets.index(ws)))]) < 4:
            frame = await recv(ws)
            if frame["type"] == "chat" and frame["client_id"] and frame["client_id"] not in outcomes:
                outcomes[frame["client_id"]] = "stored"
            elif frame["type"] == "error":
                assert frame["error"] == "rate_limited" and "address" in frame["detail"]
                outcomes[frame["client_id"]] = "refused"
    assert list(outcomes.values()).count("stored") == 6
    # Another address is not held back by this one.
    other = await client.ws_connect("/ws/lobby", headers={"X-Forwarded-For": "198.51.100.9"})
    await other.send_json({"message": "hello", "client_id": "other"})
    while (frame := await recv(other))["type"] != "chat" or frame["client_id"] != "other":
        assert frame["type"] == "chat", frame


async def test_a_long_message_costs_more_of_its_addresss_volume(make_client: MakeClient) -> None:
    client = await make_client(address_rate=0.01, address_burst=10)
    ws = await client.ws_connect("/ws/lobby")
    await ws.send_json({"message": "x" * 3999, "client_id": "a"})  # 4 tokens
    await ws.send_json({"message": "y" * 3999, "client_id": "b"})  # 4 tokens
    await ws.send_json({"message": "z" * 3999, "client_id": "c"})  # 4 more than the 2 left
    results = {}
    while len(results) < 3:
        frame = await recv(ws)
        results[frame["client_id"]] = frame["type"]
    assert results == {"a": "chat", "b": "chat", "c": "error"}
