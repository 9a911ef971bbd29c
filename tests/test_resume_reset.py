"""Resuming far behind: a client that sets ``max_backfill`` and missed more than that gets a
``reset`` and the room's newest page instead of the whole gap; under it, the resume stays
exact; without it, every missed message is replayed as before."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient

from chatapp.keys import WRITER
from chatapp.resume import RESET_PAGE

from .conftest import recv, recv_chats, whole_history


async def store(client: TestClient[Any, Any], room: str, n: int) -> list[int]:
    """``n`` messages stored through the app's own writer (quicker than a socket)."""
    writer = client.app[WRITER]
    futures = [writer.submit(room, "bulk", f"m{i}", None) for i in range(n)]
    return [s.message.id for s in await asyncio.gather(*futures)]


async def test_a_client_further_behind_than_it_asked_gets_a_reset_then_the_newest_page_then_live(
        client: TestClient[Any, Any]) -> None:
    ids = await store(client, "busy", 700)
    ws = await client.ws_connect("/ws/busy", params={"after": str(ids[0]), "max_backfill": "500"})
    reset = await recv(ws)
    assert reset == {"type": "reset", "room": "busy", "skipped_after": ids[0], "skipped_before": ids[-RESET_PAGE]}
    assert [f["id"] for f in await recv_chats(ws, RESET_PAGE)] == ids[-RESET_PAGE:]

    # Then it is live, with nothing in between.
    talker = await client.ws_connect("/ws/busy")
    await talker.send_json({"message": "live"})
    live = (await recv_chats(ws, 1))[0]
    assert live["message"] == "live" and live["id"] > ids[-1]

    # What it skipped is one history page away, before the first message it got.
    page = await (await client.get("/api/rooms/busy/messages",
                                   params={"before": str(reset["skipped_before"]), "limit": "3"})).json()
    assert [m["id"] for m in page["messages"]] == ids[-RESET_PAGE - 3:-RESET_PAGE]
    await ws.close()
    await talker.close()


@pytest.mark.parametrize("missed", [1, 499, 500])
async def test_a_client_within_its_max_backfill_gets_every_missed_message_exactly_once(
        client: TestClient[Any, Any], missed: int) -> None:
    ids = await store(client, "near", missed + 1)
    ws = await client.ws_connect("/ws/near", params={"after": str(ids[0]), "max_backfill": "500"})
    assert [f["id"] for f in await recv_chats(ws, missed, timeout=15)] == ids[1:]
    talker = await client.ws_connect("/ws/near")
    await talker.send_json({"message": "live"})
    assert (await recv_chats(ws, 1))[0]["message"] == "live"  # no reset slipped in anywhere
    await ws.close()
    await talker.close()


async def test_a_client_that_did_not_ask_still_gets_the_whole_gap(client: TestClient[Any, Any]) -> None:
    ids = await store(client, "old", 800)
    ws = await client.ws_connect("/ws/old", params={"after": "0"})
    assert [f["id"] for f in await recv_chats(ws, 800, timeout=15)] == ids
    await ws.close()


async def test_a_reset_while_messages_keep_arriving_has_no_gap_and_no_duplicate(
        client: TestClient[Any, Any]) -> None:
    ids = await store(client, "race", 600)
    sender = await client.ws_connect("/ws/race")

    async def keep_sending() -> None:
        for i in range(200):
            await sender.send_json({"message": f"during {i}"})
            if i % 20 == 0:
                await asyncio.sleep(0)

    task = asyncio.create_task(keep_sending())
    ws = await client.ws_connect("/ws/race", params={"after": str(ids[0]), "max_backfill": "100"})
    await task
    reset = await recv(ws)
    assert reset["type"] == "reset"
    # Everything from the first message it was given to the last one sent, once, in order.
    frames = []
    async with asyncio.timeout(15):
        while not frames or frames[-1]["message"] != "during 199":
            frames += await recv_chats(ws, 1)
    got = [f["id"] for f in frames]
    assert got[0] == reset["skipped_before"]
    stored = [m["id"] for m in await whole_history(client, "race", reset["skipped_before"] - 1)]
    assert got == stored
    await ws.close()
    await sender.close()


@pytest.mark.parametrize("value", ["0", "10001", "²", "-1", "many"])
async def test_a_max_backfill_that_is_not_1_to_10000_is_refused_before_the_upgrade(
        client: TestClient[Any, Any], value: str) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/ws/lobby", params={"after": "0", "max_backfill": value})
    assert refused.value.status == 400
