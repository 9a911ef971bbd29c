"""``CHATAPP_ACCESS=members``, through the real app: without a member session every page
sends the browser to log in, every API and the socket answer 401, and only the account
pages, /healthz, static files and the admin (behind its own login) answer."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient

from .admin_client import login as operator_login
from .conftest import MakeClient, recv_chats
from .member_client import sign_up

Client = TestClient[Any, Any]

PAGES = ["/", "/enter?room=lobby", "/rooms/lobby", "/rooms/lobby?at=1", "/search?q=hi", "/account"]
APIS = ["/api/rooms/lobby/messages", "/api/search?q=hi", "/api/rooms/lobby/export"]


@pytest.fixture
async def members_only(make_client: MakeClient) -> Client:
    client = await make_client(access="members")
    return client


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_sends_a_visitor_without_a_session_to_log_in(members_only: Client, path: str) -> None:
    response = await members_only.get(path, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", APIS)
async def test_every_api_answers_401_without_a_session(members_only: Client, path: str) -> None:
    response = await members_only.get(path, allow_redirects=False)
    assert response.status == 401
    assert (await response.json())["error"] == "login_required"


async def test_the_socket_handshake_without_a_session_is_refused_with_401(members_only: Client) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await members_only.ws_connect("/ws/lobby", params={"user": "guest"})
    assert refused.value.status == 401


@pytest.mark.parametrize("path", ["/login", "/signup", "/healthz", "/static/app.css", "/admin/login"])
async def test_the_way_in_stays_open(members_only: Client, path: str) -> None:
    assert (await members_only.get(path, allow_redirects=False)).status == 200


async def test_the_admin_keeps_its_own_login(members_only: Client) -> None:
    assert (await members_only.get("/admin", allow_redirects=False)).headers["Location"].startswith("/admin/login")
    await operator_login(members_only)
    assert (await members_only.get("/admin", allow_redirects=False)).status == 200


async def test_a_post_without_a_session_is_refused(members_only: Client) -> None:
    assert (await members_only.post("/rooms/lobby", allow_redirects=False)).status in (403, 405)


async def test_a_member_reads_and_writes_everything(members_only: Client) -> None:
    await sign_up(members_only, "alice")
    for path in PAGES + APIS[:2]:
        response = await members_only.get(path, allow_redirects=False)
        assert response.status == 200 or response.headers["Location"] == "/rooms/lobby", path
    ws = await members_only.ws_connect("/ws/lobby")
    await ws.send_json({"message": "hi"})
    assert (await recv_chats(ws, 1))[0]["user"] == "alice"


async def test_after_login_the_member_lands_on_the_page_they_asked_for(members_only: Client) -> None:
    response = await members_only.get("/rooms/lobby", allow_redirects=False)
    login_page = response.headers["Location"]
    assert login_page == "/login?next=/rooms/lobby"
    page = await members_only.get(login_page)
    assert 'name="next" value="/rooms/lobby"' in await page.text()
