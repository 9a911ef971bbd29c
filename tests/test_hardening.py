"""A slow or hostile client never hurts anyone else, and bad input loses nothing."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatapp.keys import HUB

from .conftest import MakeClient, closed, recv, recv_chats, recv_type, whole_history
from .rawws import encode_frame, parse_frames, raw_connect, read_until_closed, reset


async def wait_until(condition: Any, timeout: float = 5.0) -> None:
    """Poll a cheap in-process condition with a deadline (the hub has no event for it)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# ---- backpressure -------------------------------------------------------------------------

async def test_a_reader_that_stopped_reading_is_cut_loose_and_the_room_keeps_going(
        make_client: MakeClient) -> None:
    client = await make_client(send_queue=600)
    hub = client.app[HUB]
    host, port = client.host, client.port
    _reader, writer, status = await raw_connect(host, port, "/ws/flood", rcvbuf=4096)
    assert status == 101
    talkers = [await client.ws_connect("/ws/flood") for _ in range(3)]
    await wait_until(lambda: hub.connections("flood") == 4)
    body = "x" * 2048
    total = 3000

    async def talk(i: int, ws: Any) -> None:
        for j in range(total // 3):
            await ws.send_json({"message": f"{i}:{j}:{body}"})

    receivers = [asyncio.create_task(recv_chats(ws, total, timeout=60)) for ws in talkers]
    await asyncio.gather(*(talk(i, ws) for i, ws in enumerate(talkers)))
    received = await asyncio.gather(*receivers)
    assert all(len(r) == total for r in received)
    assert [f["id"] for f in received[0]] == [f["id"] for f in received[1]]
    # The slow one was dropped rather than buffered: the hub let it go.
    await wait_until(lambda: hub.connections("flood") == 3)
    assert len(await whole_history(client, "flood")) == total
    writer.close()


async def test_a_lagged_client_is_told_where_to_resume_and_misses_nothing_after(
        make_client: MakeClient) -> None:
    client = await make_client(send_queue=600)
    hub = client.app[HUB]
    reader, writer, _ = await raw_connect(client.host, client.port, "/ws/lag", rcvbuf=4096)
    talker = await client.ws_connect("/ws/lag")
    total = 1500
    for j in range(total):
        await talker.send_json({"message": f"{j}:" + "y" * 3990})
    await recv_chats(talker, total, timeout=60)
    await wait_until(lambda: hub.connections("lag") == 1)
    # What the slow client got before it was cut off: chat frames, maybe `lagged`, maybe a close.
    frames = parse_frames(await read_until_closed(reader))
    texts = [json.loads(p) for op, p in frames if op == 0x1]
    chats = [f["id"] for f in texts if f["type"] == "chat"]
    assert len(chats) < total
    last_seen = chats[-1] if chats else 0
    lagged = [f for f in texts if f["type"] == "lagged"]
    if lagged:  # it could still take the notice: it says exactly where to resume
        assert lagged[0]["resume_after"] == last_seen
        assert any(op == 0x8 and int.from_bytes(p[:2], "big") == 1008 for op, p in frames)
    writer.close()
    again = await client.ws_connect("/ws/lag", params={"after": str(last_seen)})
    missed = [m["id"] for m in await whole_history(client, "lag") if m["id"] > last_seen]
    assert missed
    frames_again = await recv_chats(again, len(missed), timeout=20)
    assert [f["id"] for f in frames_again] == missed


# ---- limits and flood control ----------------------------------------------------------------

async def test_a_frame_over_the_size_limit_is_closed_with_1009(ws_connect: Any) -> None:
    ws = await ws_connect("lobby")
    await ws.send_str(json.dumps({"message": "a" * 70_000}))
    assert await closed(ws) == 1009


async def test_binary_frames_get_an_error_and_the_socket_stays_open(ws_connect: Any) -> None:
    ws = await ws_connect("lobby")
    await ws.send_bytes(b"\x00\x01binary")
    frame = await recv(ws)
    assert frame == {"type": "error", "error": "binary_not_supported", "detail": frame["detail"]}
    await ws.send_json({"message": "still here"})
    assert (await recv(ws))["message"] == "still here"


async def test_invalid_utf8_is_closed_with_1007(client: TestClient[Any, Any]) -> None:
    reader, writer, _ = await raw_connect(client.host, client.port, "/ws/lobby")
    writer.write(encode_frame(0x1, b'{"message": "\xff\xfe"}'))
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    close = data[data.index(b"\x88"):]
    assert int.from_bytes(close[2:4], "big") == 1007
    writer.close()


async def test_permessage_deflate_is_not_offered(client: TestClient[Any, Any]) -> None:
    ws = await client.ws_connect("/ws/lobby", compress=15)
    assert ws.compress == 0


HOSTILE: list[tuple[str, str]] = [
    ("not json", "invalid_json"),
    ("[" * 10_000, "invalid_json"),
    ('{"message": NaN}', "invalid_json"),
    ('{"message": Infinity}', "invalid_json"),
    ('{"message": "\\ud800"}', "invalid_json"),
    ('["message"]', "invalid_frame"),
    ('"just a string"', "invalid_frame"),
    ('{"message": 42}', "invalid_message"),
    ('{"message": null}', "invalid_message"),
    ('{"message": ""}', "empty_message"),
    ('{"message": " \\n\\t "}', "empty_message"),
    (json.dumps({"message": "a" * 4001}), "message_too_long"),
    ('{"message": "nul\\u0000byte"}', "invalid_characters"),
    ('{"message": "bell\\u0007"}', "invalid_characters"),
    ('{"message": "esc\\u001b[31m"}', "invalid_characters"),
    ('{"message": "hi", "user": "a\\u202eb"}', "invalid_user"),
    ('{"message": "hi", "user": "zero\\u200bwidth"}', "invalid_user"),
    ('{"message": "hi", "user": ""}', "invalid_user"),
    (json.dumps({"message": "hi", "user": "u" * 10_000}), "invalid_user"),
    ('{"message": "hi", "user": 7}', "invalid_user"),
    ('{"message": "hi", "client_id": 7}', "invalid_client_id"),
    (json.dumps({"message": "hi", "client_id": "c" * 65}), "invalid_client_id"),
    ('{"type": "shout", "message": "hi"}', "unknown_type"),
]


@pytest.mark.parametrize(("frame", "code"), HOSTILE, ids=[c + str(i) for i, (_, c) in enumerate(HOSTILE)])
async def test_hostile_input_gets_an_error_frame_stores_nothing_and_the_socket_still_works(
        client: TestClient[Any, Any], frame: str, code: str) -> None:
    ws = await client.ws_connect("/ws/lobby")
    await ws.send_str(frame)
    error = await recv(ws)
    assert error["type"] == "error" and error["error"] == code, error
    assert isinstance(error["detail"], str) and error["detail"]
    await ws.send_json({"message": "still works"})
    assert (await recv(ws))["message"] == "still works"
    assert [m["message"] for m in await whole_history(client, "lobby")] == ["still works"]


async def test_deep_nesting_is_an_error_and_100000_brackets_are_an_oversized_frame(ws_connect: Any) -> None:
    ws = await ws_connect("lobby")
    await ws.send_str("[" * 60_000)  # just under the frame limit: the parser's depth limit answers
    assert (await recv(ws))["error"] == "invalid_json"
    await ws.send_json({"message": "still here"})
    assert (await recv(ws))["message"] == "still here"
    await ws.send_str("[" * 100_000)  # 100 KB: over the 64 KiB frame limit, closed unread
    assert await closed(ws) == 1009
    again = await ws_connect("lobby")
    await again.send_json({"message": "server fine"})
    assert (await recv(again))["message"] == "server fine"


async def test_exactly_the_limit_is_accepted_and_newlines_and_tabs_are_fine(ws_connect: Any) -> None:
    ws = await ws_connect("lobby")
    await ws.send_json({"message": "a" * 4000})
    assert len((await recv(ws))["message"]) == 4000
    await ws.send_json({"message": "line one\n\tline two", "user": "u" * 32})
    frame = await recv(ws)
    assert frame["message"] == "line one\n\tline two" and frame["user"] == "u" * 32
    await ws.send_json({"message": "😀" * 4000})
    assert (await recv(ws))["message"] == "😀" * 4000


async def test_a_bad_message_in_a_busy_batch_does_not_fail_the_others(make_client: MakeClient) -> None:
    client = await make_client()
    wss = [await client.ws_connect("/ws/batch") for _ in range(10)]
    for i, ws in enumerate(wss):
        await ws.send_str('{"message": "\\u0000"}' if i % 2 else json.dumps({"message": f"ok {i}"}))
    frames = await recv_chats(wss[0], 5)
    assert sorted(f["message"] for f in frames) == [f"ok {i}" for i in range(0, 10, 2)]


async def test_flooding_gets_rate_limited_and_others_are_unaffected(make_client: MakeClient) -> None:
    client = await make_client(msg_rate=5, msg_burst=20)
    flooder = await client.ws_connect("/ws/rate", params={"user": "flood"})
    calm = await client.ws_connect("/ws/rate", params={"user": "calm"})
    for i in range(30):
        await flooder.send_json({"message": f"f{i}"})
    await calm.send_json({"message": "calm one"})
    errors = chats = 0
    async with asyncio.timeout(5):
        while errors + chats < 31:
            frame = await recv(flooder)
            if frame["type"] == "error":
                assert frame["error"] == "rate_limited"
                errors += 1
            else:
                chats += 1
    assert 20 <= chats - 1 <= 22 and errors == 31 - chats  # the burst, maybe a refill, and calm's
    stored = await whole_history(client, "rate")
    assert "calm one" in [m["message"] for m in stored]
    assert len(stored) == chats


async def test_sustained_flooding_closes_with_1008(make_client: MakeClient) -> None:
    client = await make_client(msg_rate=1, msg_burst=2)
    ws = await client.ws_connect("/ws/rate")
    for i in range(200):
        if ws.closed:
            break
        await ws.send_json({"message": f"f{i}"})
    assert await closed(ws) == 1008


async def test_typing_frames_are_relayed_to_others_and_never_stored(make_client: MakeClient) -> None:
    client = await make_client()
    alice = await client.ws_connect("/ws/t", params={"user": "alice"})
    bob = await client.ws_connect("/ws/t", params={"user": "bob"})
    await alice.send_json({"type": "typing"})
    frame = await recv_type(bob, "typing")
    assert frame == {"type": "typing", "user": "alice", "room": "t"}
    assert await whole_history(client, "t") == []


async def test_connection_caps_answer_503_and_429(make_client: MakeClient) -> None:
    client = await make_client(max_connections=2, max_connections_per_ip=0)
    await client.ws_connect("/ws/a")
    await client.ws_connect("/ws/a")
    _, w, status = await raw_connect(client.host, client.port, "/ws/a")
    assert status == 503
    w.close()
    client2 = await make_client(max_connections=0, max_connections_per_ip=1)
    await client2.ws_connect("/ws/a")
    _, w, status = await raw_connect(client2.host, client2.port, "/ws/a")
    assert status == 429
    w.close()


async def test_a_dead_peer_is_dropped_by_the_heartbeat(make_client: MakeClient) -> None:
    client = await make_client(heartbeat=0.2)
    hub = client.app[HUB]
    _reader, writer, _ = await raw_connect(client.host, client.port, "/ws/hb")
    await wait_until(lambda: hub.connections("hb") == 1)
    await wait_until(lambda: hub.connections("hb") == 0, timeout=5)  # never answered a ping
    writer.close()


# ---- origin and headers ----------------------------------------------------------------------

async def test_a_foreign_origin_gets_403_and_no_upgrade(make_client: MakeClient) -> None:
    client = await make_client(allowed_origins=("https://friend.example",))
    own = f"http://{client.host}:{client.port}"
    for origin, expected in [("https://evil.example", 403), (own, 101),
                             ("https://friend.example", 101), (None, 101)]:
        headers = {"Origin": origin} if origin else {}
        _, writer, status = await raw_connect(client.host, client.port, "/ws/o", headers=headers)
        assert status == expected, origin
        writer.close()


async def test_public_origin_is_what_counts_behind_a_proxy(make_client: MakeClient) -> None:
    client = await make_client(public_origin="https://chat.example.org")
    _, w, status = await raw_connect(client.host, client.port, "/ws/o",
                                     headers={"Origin": "https://chat.example.org"})
    assert status == 101
    w.close()
    _, w, status = await raw_connect(client.host, client.port, "/ws/o",
                                     headers={"Origin": f"http://{client.host}:{client.port}"})
    assert status == 403
    w.close()


async def test_html_responses_carry_a_strict_csp_and_security_headers(client: TestClient[Any, Any]) -> None:
    for path in ("/", "/rooms/lobby", "/rooms/bad%20name"):
        response = await client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"]


XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>',
       "javascript:alert(1)", "{{7*7}}", "</textarea><b>bold</b>"]


async def test_xss_payloads_render_as_text_in_pages(client: TestClient[Any, Any]) -> None:
    ws = await client.ws_connect("/ws/xss")
    for payload in XSS:
        await ws.send_json({"message": payload, "user": payload[:32]})
    await recv_chats(ws, len(XSS))
    page = await (await client.get("/rooms/xss")).text()
    assert "<script>alert" not in page and "<img src=x" not in page and "<svg onload" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    texts = re.findall(r'<div class="text"[^>]*>(.*?)</div>', page, re.S)
    assert "<p>{{7*7}}</p>" in texts and "<p>49</p>" not in texts  # not evaluated as a template
    assert 'href="javascript:' not in page


# ---- faults ----------------------------------------------------------------------------------

@pytest.mark.sqlite_only(reason="holds a SQLite write lock from another connection; test_postgres stops the server")
async def test_a_locked_database_gets_not_stored_and_writes_resume_afterwards(
        make_client: MakeClient, settings: Any) -> None:
    client = await make_client(busy_timeout=0.2)
    alice = await client.ws_connect("/ws/lock")
    bob = await client.ws_connect("/ws/lock")
    blocker = sqlite3.connect(settings.db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        await alice.send_json({"message": "lost", "client_id": "c1"})
        error = await recv(alice, timeout=10)
        assert error["type"] == "error" and error["error"] == "not_stored"
        assert error["client_id"] == "c1"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await alice.send_json({"message": "kept", "client_id": "c1"})
    assert (await recv(bob))["message"] == "kept"  # bob never saw "lost"
    assert [m["message"] for m in await whole_history(client, "lock")] == ["kept"]


async def test_a_reset_mid_broadcast_leaves_no_stray_errors_and_leaves_the_room(
        make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client()
    hub = client.app[HUB]
    raws = [await raw_connect(client.host, client.port, "/ws/rst") for _ in range(5)]
    talker = await client.ws_connect("/ws/rst")
    await wait_until(lambda: hub.connections("rst") == 6)
    with caplog.at_level(logging.DEBUG):
        for j in range(200):
            await talker.send_json({"message": f"m{j} " + "z" * 500})
            if j == 50:
                for _, w, _ in raws:
                    reset(w)
        await recv_chats(talker, 200, timeout=20)
        await wait_until(lambda: hub.connections("rst") == 1)
    assert "Task exception was never retrieved" not in caplog.text
    assert "Traceback" not in caplog.text


async def test_an_error_about_a_message_names_its_client_id(ws_connect: Any) -> None:
    ws = await ws_connect("lobby")
    await ws.send_json({"message": "a" * 4001, "client_id": "too-long-1"})
    error = await recv(ws)
    assert error["error"] == "message_too_long" and error["client_id"] == "too-long-1"
    await ws.send_json({"message": "   "})
    assert "client_id" not in await recv(ws)
