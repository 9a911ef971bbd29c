"""A refused WebSocket handshake answers as any other refused request: the error page
(status, title, the reason, the security headers), or JSON where the refusal is JSON
already, and an unexpected error is logged and answered with the 500 page.

The socket's route skips the errors middleware (its frame would live as long as every
socket), so these pin down that the handler's own answers are the middleware's."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp import ClientResponse, WSServerHandshakeError, web
from aiohttp.test_utils import TestClient, make_mocked_request

from chatapp import ws
from chatapp.middlewares import WEBSOCKET_ROUTE, errors

from .conftest import MakeClient
from .member_client import fresh_browser, sign_up, submit

Client = TestClient[Any, Any]

UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


async def _handshake(client: Client, path: str, **headers: str) -> ClientResponse:
    return await client.get(path, headers={**UPGRADE, **headers})


async def _assert_error_page(response: ClientResponse, status: int, title: str, detail: str) -> None:
    assert response.status == status
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Content-Security-Policy" in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = await response.text()
    assert f"<h1>{title}</h1>" in body, body
    assert detail in body, body


async def test_a_plain_get_of_the_socket_url_gets_the_400_page(client: Client) -> None:
    await _assert_error_page(await client.get("/ws/lobby"), 400, "Bad request", "This URL only speaks WebSocket.")


async def test_a_handshake_from_another_origin_gets_the_403_page(client: Client) -> None:
    response = await _handshake(client, "/ws/lobby", Origin="http://elsewhere.example")
    await _assert_error_page(response, 403, "Forbidden", "Cross-origin WebSocket refused.")


@pytest.mark.parametrize(("limit", "status", "title", "detail"), [
    ("max_connections", 503, "Unavailable", "The server is at its connection limit."),
    ("max_connections_per_ip", 429, "Too many requests", "Too many connections from your address."),
])
async def test_a_handshake_past_a_connection_limit_gets_its_error_page(
        make_client: MakeClient, limit: str, status: int, title: str, detail: str) -> None:
    client = await make_client(**{limit: 1})
    ws = await client.ws_connect("/ws/lobby")
    response = await _handshake(client, "/ws/lobby")
    await _assert_error_page(response, status, title, detail)
    await ws.close()


@pytest.mark.parametrize(("query", "detail"), [
    ("max_backfill=0", "max_backfill must be from 1 to 10000"),
    ("after=-1", "after must be a non-negative whole number"),
    ("user=%E2%80%8B", ""),  # an invisible name: the protocol's own reason
])
async def test_a_handshake_with_a_bad_query_gets_the_400_page(client: Client, query: str, detail: str) -> None:
    await _assert_error_page(await _handshake(client, f"/ws/lobby?{query}"), 400, "Bad request", detail)


async def test_a_room_name_that_cannot_exist_gets_the_404_page(client: Client) -> None:
    response = await _handshake(client, "/ws/semi%3Bcolon")
    await _assert_error_page(response, 404, "Not found", "Room names are 1 to 64 letters")


async def test_a_private_room_answers_a_guest_s_handshake_as_a_missing_room(client: Client,
                                                                         aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    response = await submit(client, "/private/new", room="hideout")
    assert response.status == 303, await response.text()
    guest = await fresh_browser(client, aiohttp_client)
    response = await _handshake(guest, "/ws/hideout")
    await _assert_error_page(response, 404, "Not found", "There is no room of that name here.")


async def test_a_taken_name_is_refused_as_a_json_protocol_error(client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    guest = await fresh_browser(client, aiohttp_client)
    response = await _handshake(guest, "/ws/lobby?user=alice")
    assert response.status == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert (await response.json())["error"] == "name_taken"


async def test_an_unexpected_error_in_the_handshake_is_logged_and_gets_the_500_page(
        client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object) -> str:
        raise RuntimeError("the address lookup broke")

    monkeypatch.setattr("chatapp.ws.client_addr", broken)
    with caplog.at_level(logging.ERROR):
        response = await _handshake(client, "/ws/lobby")
    await _assert_error_page(response, 500, "Server error", "Something went wrong on the server. It was logged.")
    assert any(r.exc_info and "the address lookup broke" in str(r.exc_info[1]) for r in caplog.records)


async def test_the_client_library_sees_the_refusal_s_status(client: Client) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/ws/lobby", headers={"Origin": "http://elsewhere.example"})
    assert refused.value.status == 403


async def test_the_errors_middleware_hands_a_socket_its_handler_s_own_coroutine(client: Client) -> None:
    # No frame of the middleware's lives as long as the socket; the route it steps aside
    # for is the socket's.
    app = client.app
    assert app is not None
    request = make_mocked_request("GET", "/ws/lobby", app=app)
    match_info = await app.router.resolve(request)
    assert match_info.route.name == WEBSOCKET_ROUTE and match_info.handler is ws.websocket
    request._match_info = match_info  # as the application sets it before its middlewares run

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response()

    answer = errors(request, handler)
    assert answer.cr_code is handler.__code__  # type: ignore[attr-defined]
    await answer
