"""What a hostile visitor types into URLs and names: refused clearly, never a 500."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient

from .conftest import recv

Client = TestClient[Any, Any]

# Each is true for str.isdigit() but not a number int() reads, or not ASCII.
NOT_ASCII_DIGITS = ["²", "1²", "³⁴", "١٢", "１２", "𝟙", "⑴"]


@pytest.mark.parametrize("raw", NOT_ASCII_DIGITS)
async def test_numbers_written_with_other_digits_are_a_400_not_a_500(
        client: Client, raw: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        for path, name in [("/api/rooms/lobby/messages", "after"), ("/api/rooms/lobby/messages", "before"),
                           ("/api/rooms/lobby/messages", "limit"), ("/rooms/lobby", "at"),
                           ("/api/search", "limit"), ("/search", "limit")]:
            params = {name: raw, "q": "abc"} if "search" in path else {name: raw}
            response = await client.get(path, params=params)
            assert response.status == 400, (path, name, response.status)
            assert "0-9" in await response.text()
        with pytest.raises(WSServerHandshakeError) as refused:
            await client.ws_connect("/ws/lobby", params={"after": raw})
        assert refused.value.status == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


INVISIBLE_NAMES = [
    "\u00ad", "ali\u00adce",  # soft hyphen
    "ali\u034fce",  # combining grapheme joiner
    "\u115f", "\u1160", "\u3164", "\uffa0", "alice\u3164",  # Hangul fillers
    "\u2800", "\u2800\u2800",  # braille blank
    "ali\u180ece",  # Mongolian vowel separator
    "alice\ufe0f", "alice\U000e0100",  # variation selectors
    "alice\U000e0041", "\U000e0061\U000e0062",  # tag characters
    "ali\u2028ce", "ali\u2029ce",  # line and paragraph separators
    "ali\u200bce", "\u202ealice",  # zero width, bidi override (as before)
    "\u0301\u0301",  # only combining marks
]


@pytest.mark.parametrize("name", INVISIBLE_NAMES)
async def test_names_with_invisible_characters_are_refused_on_the_socket(client: Client, name: str) -> None:
    ws = await client.ws_connect("/ws/lobby")
    await ws.send_json({"message": "hi", "user": name, "client_id": "c1"})
    frame = await recv(ws)
    assert frame["type"] == "error" and frame["error"] == "invalid_user", (name, frame)
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/ws/lobby", params={"user": name})
    assert refused.value.status == 400


async def test_look_alike_compatibility_forms_of_a_name_are_one_name(client: Client) -> None:
    ws = await client.ws_connect("/ws/lobby")
    await ws.send_json({"message": "hi", "user": "ＡＬＩＣＥ"})  # full-width letters
    frame = await recv(ws)
    assert frame["type"] == "chat" and frame["user"] == "ALICE"


async def test_a_page_reached_through_a_rebound_dns_name_is_refused(client: Client) -> None:
    for path in ("/", "/rooms/lobby", "/api/rooms/lobby/messages", "/admin", "/search?q=abc"):
        response = await client.get(path, headers={"Host": "rebind.example:8080"}, allow_redirects=False)
        assert response.status == 421, path
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/ws/lobby", headers={"Host": "rebind.example",
                                                      "Origin": "http://rebind.example"})
    assert refused.value.status == 421
    for host in ("localhost:8080", "127.0.0.1", "[::1]:8080", "app.localhost"):
        response = await client.get("/", headers={"Host": host})
        assert response.status == 200, host


async def test_names_the_operator_configured_are_served(make_client: Any) -> None:
    client = await make_client(public_origin="https://chat.example.org", allowed_hosts=("chat.internal",))
    for host in ("chat.example.org", "CHAT.EXAMPLE.ORG", "chat.internal:8080"):
        assert (await client.get("/", headers={"Host": host})).status == 200, host
    assert (await client.get("/", headers={"Host": "evil.example"})).status == 421
