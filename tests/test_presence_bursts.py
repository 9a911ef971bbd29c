"""Presence in a burst of joins (a reconnect storm): the room is told who is here while the
joins go on, at most PRESENCE_MAX_DELAY after the first, in a few frames rather than one per
PRESENCE_DELAY."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType

from chatapp.hub import PRESENCE_DELAY, PRESENCE_MAX_DELAY

from .conftest import TIMEOUT


async def _presence_frames(ws: ClientWebSocketResponse, until_users: int) -> list[tuple[float, list[str]]]:
    """Every presence frame (with when it came) until one lists ``until_users`` names."""
    loop = asyncio.get_running_loop()
    frames: list[tuple[float, list[str]]] = []
    async with asyncio.timeout(TIMEOUT):
        while True:
            msg = await ws.receive()
            assert msg.type == WSMsgType.TEXT, msg
            frame = json.loads(msg.data)
            if frame["type"] == "presence":
                frames.append((loop.time(), frame["users"]))
                if len(frame["users"]) == until_users:
                    return frames


async def test_a_room_joined_steadily_hears_of_it_within_the_longest_delay_and_in_few_frames(
        ws_connect: Any) -> None:
    loop = asyncio.get_running_loop()
    alice = await ws_connect("busy", user="alice")
    await _presence_frames(alice, 1)
    joins = 30
    gap = PRESENCE_DELAY / 4  # never quiet for PRESENCE_DELAY: only the longest delay sends
    started = loop.time()
    listening = asyncio.ensure_future(_presence_frames(alice, joins + 1))
    guests = []
    for i in range(joins):
        guests.append(await ws_connect("busy", user=f"guest{i}"))
        await asyncio.sleep(gap)  # the load itself: people arriving, not a wait for a result
    frames = await listening
    _, first_users = frames[0]
    # Told while the joins went on (they take over 1.5 s, longer on a slower machine), not
    # only once they stopped: the first frame lists some of the newcomers, not all...
    assert 1 < len(first_users) < joins + 1, [len(users) for _, users in frames]
    # ...and in a few frames, not one per PRESENCE_DELAY.
    assert len(frames) <= (loop.time() - started) / PRESENCE_MAX_DELAY + 3
    for ws in guests:
        await ws.close()
