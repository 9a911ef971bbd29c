"""Driving attention as pages do: members in browsers of their own, sockets, the frames a page
gets about rooms it is not on, and a notifier that writes down whom it was asked to tell."""

from __future__ import annotations

import itertools
import json
from typing import Any

from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient

from chatapp.app import create_app
from chatapp.attention import ATTENTION
from chatapp.keys import NOTIFY, WRITER
from chatapp.models import Message
from chatapp.settings import Settings

from .conftest import recv, recv_chats, recv_type
from .member_client import fresh_browser, sign_up, submit

Client = TestClient[Any, Any]
_ids = itertools.count(1)


async def mentions_recorded(client: Client) -> None:
    """Until every message stored so far is published and its mentions are recorded. The
    writer first: on PostgreSQL a socket can get its own frame from the log follower before
    the writer has handed the message to attention."""
    app = client.server.app
    await app[WRITER].drain()
    await app[ATTENTION].recorder.drain()


async def members(client: Client, aiohttp_client: Any, *names: str) -> list[Client]:
    """One browser per name, each signed up (member ids 1, 2, ... in this order)."""
    browsers = [client] + [await fresh_browser(client, aiohttp_client) for _ in names[1:]]
    for browser, name in zip(browsers, names, strict=True):
        await sign_up(browser, name)
    return browsers


async def second_browser(client: Client, aiohttp_client: Any, name: str) -> Client:
    """Another browser (a phone, say) where ``name`` logs in too."""
    other = await fresh_browser(client, aiohttp_client)
    response = await submit(other, "/login", name=name, password="a long enough password")
    assert response.status == 303, await response.text()
    return other


async def say(ws: ClientWebSocketResponse, text: str) -> dict[str, Any]:
    """Post on an open socket and wait for the message to come back stored."""
    client_id = f"t-{next(_ids)}"
    await ws.send_str(json.dumps({"message": text, "client_id": client_id}))
    while True:
        (frame,) = await recv_chats(ws, 1)
        if frame["client_id"] == client_id:
            return frame


async def post(browser: Client, room: str, text: str) -> dict[str, Any]:
    """Post in ``room`` through a socket opened for that alone."""
    ws = await browser.ws_connect(f"/ws/{room}")
    try:
        return await say(ws, text)
    finally:
        await ws.close()


async def open_page(browser: Client, room: str) -> ClientWebSocketResponse:
    """What a room page does: GET the page, then open its socket; a member's first frame
    about other rooms is their sidebar, which is returned with the socket."""
    page = await browser.get(f"/rooms/{room}")
    assert page.status == 200, await page.text()
    return await browser.ws_connect(f"/ws/{room}", params={"sidebar": "1"})


async def sidebar(ws: ClientWebSocketResponse) -> dict[str, dict[str, Any]]:
    frame = await recv_type(ws, "sidebar")
    return {r["room"]: r for r in frame["rooms"]}


async def until(ws: ClientWebSocketResponse, kind: str, **match: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The next ``kind`` frame whose fields equal ``match``, and the frames (chat, presence
    and typing aside) that came before it: what a test checks did *not* arrive, without
    waiting on a clock, by making something arrive after it."""
    seen: list[dict[str, Any]] = []
    while True:
        frame = await recv(ws, skip=("presence", "typing", "chat"))
        if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame, seen
        seen.append(frame)


class RecordingNotifier:
    """Stands in for Web Push: what ``NOTIFY`` was asked, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, frozenset[int], str]] = []

    def notify(self, room: str, message: Message, member_ids: set[int], reason: str) -> None:
        self.calls.append((room, message.id, frozenset(member_ids), reason))

    def about(self, message_id: int) -> dict[str, frozenset[int]]:
        return {reason: ids for _, m, ids, reason in self.calls if m == message_id}


async def notified_client(aiohttp_client: Any, settings: Settings,
                          **overrides: Any) -> tuple[Client, RecordingNotifier]:
    """The real app, with a :class:`RecordingNotifier` as its ``NOTIFY`` (set before it starts)."""
    app = create_app(settings.replace(**overrides))
    notifier = RecordingNotifier()
    app[NOTIFY] = notifier
    client: Client = await aiohttp_client(app)
    return client, notifier
