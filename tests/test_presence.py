"""Who is here and who is typing, live, to everyone in the room."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import ClientWebSocketResponse

from .conftest import recv_type


async def presence_until(ws: ClientWebSocketResponse, users: list[str], timeout: float = 5.0) -> dict[str, Any]:
    """Read presence frames until one lists exactly ``users``."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await recv_type(ws, "presence", timeout=timeout)
            if frame["users"] == users:
                return frame


async def test_a_new_connection_learns_who_is_here(ws_connect: Any) -> None:
    await ws_connect("p", user="alice")
    bob = await ws_connect("p", user="bob")
    frame = await presence_until(bob, ["alice", "bob"])
    assert frame == {"type": "presence", "room": "p", "users": ["alice", "bob"], "count": 2}


async def test_everyone_sees_joins_and_leaves_live(ws_connect: Any) -> None:
    alice = await ws_connect("p", user="alice")
    await presence_until(alice, ["alice"])
    carol = await ws_connect("p", user="carol")
    await presence_until(alice, ["alice", "carol"])
    await carol.close()
    frame = await presence_until(alice, ["alice"])
    assert frame["count"] == 1


async def test_a_person_with_two_tabs_counts_once(ws_connect: Any) -> None:
    alice = await ws_connect("p", user="alice")
    await ws_connect("p", user="bob")
    await presence_until(alice, ["alice", "bob"])
    second_tab = await ws_connect("p", user="bob")
    frame = await presence_until(second_tab, ["alice", "bob"])  # the newcomer is told at once
    assert frame["count"] == 2
    await second_tab.close()
    await ws_connect("p", user="dave")
    frame = await presence_until(alice, ["alice", "bob", "dave"])  # bob's first tab still counts
    assert frame["count"] == 3


async def test_presence_is_per_room(ws_connect: Any) -> None:
    alice = await ws_connect("one", user="alice")
    await ws_connect("two", user="bob")
    frame = await presence_until(alice, ["alice"])
    assert frame["room"] == "one"
    await ws_connect("one", user="eve")
    frame = await presence_until(alice, ["alice", "eve"])
    assert "bob" not in frame["users"]
