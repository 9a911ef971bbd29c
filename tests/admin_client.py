"""Driving the admin as a browser would: the login form, posts with the CSRF token, and
the chat calls the admin tests share."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientResponse, ClientWebSocketResponse
from aiohttp.test_utils import TestClient

from .conftest import recv_chats

PASSWORD = "correct horse battery staple"  # the settings fixture's
WsConnect = Callable[..., Awaitable[ClientWebSocketResponse]]
Client = TestClient[Any, Any]

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def token_in(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


async def login(client: Client, password: str = PASSWORD) -> str:
    """Log in through the form; return the CSRF token of the logged-in session."""
    page = await client.get("/admin/login")
    resp = await client.post("/admin/login", allow_redirects=False,
                             data={"password": password, "csrf_token": token_in(await page.text())})
    assert resp.status == 303, await resp.text()
    home = await client.get("/admin", allow_redirects=False)
    assert home.status == 200
    return token_in(await home.text())


async def post(client: Client, path: str, token: str | None, headers: dict[str, str] | None = None,
               **data: str) -> ClientResponse:
    if token is not None:
        data["csrf_token"] = token
    return await client.post(path, data=data, headers=headers or {}, allow_redirects=False)


async def say(ws: ClientWebSocketResponse, text: str, **extra: Any) -> dict[str, Any]:
    await ws.send_json({"message": text, **extra})
    return (await recv_chats(ws, 1))[0]


async def history(client: Client, room: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/rooms/{room}/messages")
    assert resp.status == 200
    messages: list[dict[str, Any]] = (await resp.json())["messages"]
    return messages

