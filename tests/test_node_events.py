"""A node applies the node events it announced itself once, on PostgreSQL, however soon its
own follower reads them back: the event's id is noted before the commit makes it visible."""

from __future__ import annotations

from typing import Any

import pytest

from chatapp.cluster.node import CLUSTER
from chatapp.keys import STORE
from chatapp.models import RoomEvent

from .admin_client import Client, WsConnect, login, post, say
from .conftest import recv, recv_type
from .pg import ON_POSTGRES

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="node events are PostgreSQL's (make test-postgres)")


async def test_a_lock_this_node_announced_reaches_its_sockets_once_when_its_follower_reads_it_first(
        client: Client, ws_connect: WsConnect, monkeypatch: pytest.MonkeyPatch) -> None:
    store, cluster = client.app[STORE], client.app[CLUSTER]
    logged = store.log_node_event  # type: ignore[attr-defined]

    async def read_back_at_once(*args: Any, **kwargs: Any) -> RoomEvent:
        event: RoomEvent = await logged(*args, **kwargs)
        assert await cluster.follower.catch_up(5.0)  # the follower has it before announce goes on
        return event

    monkeypatch.setattr(store, "log_node_event", read_back_at_once)
    token = await login(client)
    ws = await ws_connect("lobby", user="alice")
    await say(ws, "before")
    assert (await post(client, "/admin/rooms/lobby/lock", token)).status == 303
    assert await recv_type(ws, "room") == {"type": "room", "room": "lobby", "locked": True}
    assert (await post(client, "/admin/rooms/lobby/unlock", token)).status == 303
    assert await recv(ws) == {"type": "room", "room": "lobby", "locked": False}  # not the lock again
    assert (await say(ws, "after"))["message"] == "after"  # and nothing before the next chat
