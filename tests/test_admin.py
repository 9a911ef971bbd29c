"""The admin, through the real app: who gets in, what each action does, and what is recorded."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from chatapp import admin_store
from chatapp.app import create_app
from chatapp.auth import AUTH, COOKIE_NAME, FREE_ATTEMPTS
from chatapp.keys import HUB, STORE
from chatapp.settings import Settings

from .conftest import TIMEOUT, MakeClient, recv_chats, recv_type

PASSWORD = "correct horse battery staple"
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


class RoomTable(HTMLParser):
    """The cells of ``table#rooms``: room name -> {cell class: text}."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.order: list[str] = []
        self._room: str | None = None
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-room"):
            self._room = a["data-room"]
            assert self._room is not None
            self.rows[self._room] = {}
            self.order.append(self._room)
        elif tag == "td" and self._room is not None:
            self._cell = (a.get("class") or "").split()[-1]
            self.rows[self._room][self._cell] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._room = None

    def handle_data(self, data: str) -> None:
        if self._room is not None and self._cell is not None:
            self.rows[self._room][self._cell] += data


async def room_table(client: Client) -> RoomTable:
    resp = await client.get("/admin")
    assert resp.status == 200
    table = RoomTable()
    table.feed(await resp.text())
    return table


async def close_frame(ws: ClientWebSocketResponse) -> tuple[int, str]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.CLOSE:
                return msg.data, msg.extra
            if msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR):
                raise AssertionError(f"closed without a close frame: {msg}")


# ---- getting in ----

async def test_admin_pages_send_a_visitor_who_is_not_logged_in_to_the_login_page(client: Client) -> None:
    for path in ("/admin", "/admin/rooms/lobby", "/admin/audit"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 302, path
        assert resp.headers["Location"].startswith("/admin/login?next=")
    page = await client.get("/admin/rooms/lobby")  # following the redirect
    assert page.url.path == "/admin/login"
    assert 'name="password"' in await page.text()
    assert 'value="/admin/rooms/lobby"' in await page.text()


async def test_admin_posts_from_a_visitor_who_is_not_logged_in_are_refused(
        client: Client, ws_connect: WsConnect) -> None:
    ws = await ws_connect("lobby")
    sent = await say(ws, "still here")
    # A token from the login page is a real token, just not an operator's.
    token = token_in(await (await client.get("/admin/login")).text())
    for action in ("lock", "clear", "delete", "retention"):
        resp = await post(client, f"/admin/rooms/lobby/{action}", token, keep="forever")
        assert resp.status == 403, action
    resp = await post(client, f"/admin/rooms/lobby/messages/{sent['id']}/delete", token)
    assert resp.status == 403
    assert (await post(client, "/admin/logout", token)).status == 403
    assert [m["id"] for m in await history(client, "lobby")] == [sent["id"]]
    assert "lobby" not in client.server.app[HUB].locked


async def test_a_wrong_password_is_refused_and_does_not_log_in(client: Client) -> None:
    page = await client.get("/admin/login")
    resp = await post(client, "/admin/login", token_in(await page.text()), password="hunter2")
    assert resp.status == 401
    assert "not right" in await resp.text()
    assert (await client.get("/admin", allow_redirects=False)).status == 302


async def test_repeated_wrong_passwords_from_one_address_are_slowed_down(client: Client) -> None:
    now = [1000.0]
    client.server.app[AUTH].throttle.clock = lambda: now[0]
    token = token_in(await (await client.get("/admin/login")).text())
    for _ in range(FREE_ATTEMPTS):
        assert (await post(client, "/admin/login", token, password="guess")).status == 401
    # Past the free attempts even the right password waits: it is not even checked.
    resp = await post(client, "/admin/login", token, password=PASSWORD)
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert (await client.get("/admin", allow_redirects=False)).status == 302
    now[0] += 1.5
    assert (await post(client, "/admin/login", token, password="guess")).status == 401
    now[0] += 1.5  # the wait doubled: 2 s after that failure
    assert (await post(client, "/admin/login", token, password=PASSWORD)).status == 429
    now[0] += 1.0
    assert (await post(client, "/admin/login", token, password=PASSWORD)).status == 303


async def test_the_session_cookie_is_http_only_same_site_strict_and_not_secure_over_http(
        client: Client) -> None:
    page = await client.get("/admin/login")
    resp = await post(client, "/admin/login", token_in(await page.text()), password=PASSWORD)
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(COOKIE_NAME + "=")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie
    assert PASSWORD not in cookie and "admin" not in cookie.split(";")[0].split("=", 1)[1]


@pytest.mark.parametrize("setting", [{"secure_cookies": True},
                                     {"public_origin": "https://chat.example.org"}])
async def test_the_session_cookie_is_secure_behind_a_tls_proxy(make_client: MakeClient,
                                                               setting: dict[str, Any]) -> None:
    client = await make_client(**setting)
    page = await client.get("/admin/login")
    assert "; Secure" in page.headers["Set-Cookie"]


async def test_a_login_post_without_the_csrf_token_is_refused(client: Client) -> None:
    await client.get("/admin/login")
    resp = await post(client, "/admin/login", None, password=PASSWORD)
    assert resp.status == 403
    assert (await client.get("/admin", allow_redirects=False)).status == 302


async def test_an_operator_post_without_the_csrf_token_or_with_a_wrong_one_is_refused(
        client: Client) -> None:
    await login(client)
    assert (await post(client, "/admin/rooms/lobby/lock", None)).status == 403
    assert (await post(client, "/admin/rooms/lobby/lock", "not-the-token")).status == 403
    assert "lobby" not in client.server.app[HUB].locked


async def test_an_operator_post_from_another_site_is_refused_even_with_the_token(client: Client) -> None:
    token = await login(client)
    evil = await post(client, "/admin/rooms/lobby/lock", token, headers={"Origin": "https://evil.example"})
    assert evil.status == 403
    cross = await post(client, "/admin/rooms/lobby/lock", token, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status == 403
    null = await post(client, "/admin/rooms/lobby/lock", token, headers={"Origin": "null"})
    assert null.status == 403
    assert "lobby" not in client.server.app[HUB].locked
    own = f"http://{client.server.host}:{client.server.port}"
    ok = await post(client, "/admin/rooms/lobby/lock", token,
                    headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert ok.status == 303
    assert "lobby" in client.server.app[HUB].locked


async def test_a_login_form_posted_from_another_site_is_refused(client: Client) -> None:
    token = token_in(await (await client.get("/admin/login")).text())
    resp = await post(client, "/admin/login", token, headers={"Origin": "https://evil.example"},
                      password=PASSWORD)
    assert resp.status == 403


async def test_logging_in_goes_back_to_the_page_asked_for_but_never_off_site(client: Client) -> None:
    token = token_in(await (await client.get("/admin/login?next=/admin/audit")).text())
    resp = await post(client, "/admin/login", token, password=PASSWORD, next="/admin/audit")
    assert resp.headers["Location"] == "/admin/audit"
    await post(client, "/admin/logout", token_in(await (await client.get("/admin")).text()))
    for bad in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        token = token_in(await (await client.get("/admin/login")).text())
        resp = await post(client, "/admin/login", token, password=PASSWORD, next=bad)
        assert resp.headers["Location"] == "/admin", bad
        await post(client, "/admin/logout", token_in(await (await client.get("/admin")).text()))


async def test_logging_out_ends_the_session(client: Client) -> None:
    token = await login(client)
    resp = await post(client, "/admin/logout", token)
    assert resp.status == 303
    assert resp.headers["Location"] == "/admin/login"
    assert (await client.get("/admin", allow_redirects=False)).status == 302


async def test_without_a_configured_password_one_is_generated_and_logged_once(
        make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chatapp.auth")
    client = await make_client(admin_password="")
    generated = client.server.app[AUTH].password
    assert len(generated) >= 24
    warnings = [r for r in caplog.records if generated in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    await login(client, generated)
    assert (await client.get("/admin", allow_redirects=False)).status == 200


async def test_the_session_survives_a_restart_on_the_same_database(
        make_client: MakeClient, settings: Settings) -> None:
    first = await make_client()
    await login(first)
    cookie = next(c.value for c in first.session.cookie_jar if c.key == COOKIE_NAME)
    await first.close()
    secret = Path(settings.db + ".secret")
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    second = await make_client()
    resp = await second.get("/admin", headers={"Cookie": f"{COOKIE_NAME}={cookie}"},
                            allow_redirects=False)
    assert resp.status == 200


async def test_with_a_configured_secret_no_key_file_is_written(make_client: MakeClient,
                                                                 settings: Settings) -> None:
    client = await make_client(secret="aSfi1u6sN0vI6g1j2TSu6u7f4Yyt5Q0l7bX8mW1dRkE=")
    await login(client)
    assert not Path(settings.db + ".secret").exists()


def test_a_malformed_secret_stops_the_app_from_being_built(settings: Settings) -> None:
    with pytest.raises(SystemExit, match="CHATAPP_SECRET"):
        create_app(settings.replace(secret="too-short"))


async def test_admin_responses_are_never_cached(client: Client) -> None:
    responses = [await client.get("/admin", allow_redirects=False),
                 await client.get("/admin/login")]
    responses.append(await post(client, "/admin/rooms/lobby/lock", None))  # refused
    token = await login(client)
    responses += [
        await client.get("/admin"),
        await client.get("/admin/api/rooms"),
        await client.get("/admin/rooms/lobby"),
        await client.get("/admin/audit"),
        await post(client, "/admin/rooms/lobby/lock", token),
    ]
    for resp in responses:
        assert resp.headers.get("Cache-Control") == "no-store", (resp.method, resp.url, resp.status)


async def test_the_rooms_api_answers_401_when_the_session_has_ended(client: Client) -> None:
    resp = await client.get("/admin/api/rooms")
    assert resp.status == 401
    assert (await resp.json())["error"] == "login_required"


# ---- the actions, seen by a connected client and in the history ----

async def test_deleting_a_message_removes_it_from_the_history_and_tells_the_room(
        client: Client, ws_connect: WsConnect) -> None:
    token = await login(client)
    ws = await ws_connect("lobby", user="alice")
    keep = await say(ws, "keep me")
    gone = await say(ws, "delete me")
    page = await client.get("/admin/rooms/lobby")
    action = f"/admin/rooms/lobby/messages/{gone['id']}/delete"
    assert f'action="{action}"' in await page.text()
    resp = await post(client, action, token)
    assert resp.status == 303
    assert resp.headers["Location"] == "/admin/rooms/lobby"
    assert await recv_type(ws, "delete") == {"type": "delete", "id": gone["id"], "room": "lobby"}
    assert [m["id"] for m in await history(client, "lobby")] == [keep["id"]]
    assert "delete me" not in await (await client.get("/admin/rooms/lobby")).text()


async def test_deleting_a_message_that_is_already_gone_changes_nothing(client: Client) -> None:
    token = await login(client)
    resp = await post(client, "/admin/rooms/lobby/messages/999/delete", token)
    assert resp.status == 303
    assert "already gone" in await (await client.get("/admin/rooms/lobby")).text()


async def test_a_locked_room_refuses_sends_and_says_so_until_it_is_unlocked(
        client: Client, ws_connect: WsConnect) -> None:
    token = await login(client)
    ws = await ws_connect("lobby", user="alice")
    await say(ws, "before")
    assert (await post(client, "/admin/rooms/lobby/lock", token)).status == 303
    assert await recv_type(ws, "room") == {"type": "room", "room": "lobby", "locked": True}
    await ws.send_json({"message": "during", "client_id": "c1"})
    error = await recv_type(ws, "error")
    assert error["error"] == "room_locked" and error["client_id"] == "c1"
    assert "This room is locked" in await (await client.get("/admin/rooms/lobby")).text()
    assert 'id="locked-notice"' in await (await client.get("/rooms/lobby")).text()
    assert await client.server.app[STORE].locked_rooms() == {"lobby"}
    assert [m["message"] for m in await history(client, "lobby")] == ["before"]

    assert (await post(client, "/admin/rooms/lobby/unlock", token)).status == 303
    assert await recv_type(ws, "room") == {"type": "room", "room": "lobby", "locked": False}
    await say(ws, "after")
    assert [m["message"] for m in await history(client, "lobby")] == ["before", "after"]
    assert "This room is locked" not in await (await client.get("/admin/rooms/lobby")).text()


async def test_clearing_a_room_empties_its_history_and_tells_the_room(
        client: Client, ws_connect: WsConnect, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin_store, "DELETE_CHUNK", 2)  # three messages take two deletes
    token = await login(client)
    ws = await ws_connect("lobby")
    other = await ws_connect("other")
    for i in range(3):
        await say(ws, f"m{i}")
    await say(other, "untouched")
    assert (await post(client, "/admin/rooms/lobby/clear", token)).status == 303
    assert await recv_type(ws, "clear") == {"type": "clear", "room": "lobby"}
    assert await history(client, "lobby") == []
    assert [m["message"] for m in await history(client, "other")] == ["untouched"]
    rows = (await room_table(client)).rows
    assert rows["lobby"]["count"] == "0" and rows["other"]["count"] == "1"
    await say(ws, "the room still works")  # cleared, not locked


async def test_deleting_a_room_closes_its_sockets_with_a_reason_and_forgets_it(
        client: Client, ws_connect: WsConnect) -> None:
    token = await login(client)
    ws = await ws_connect("doomed")
    await say(ws, "soon gone")
    await post(client, "/admin/rooms/doomed/lock", token)
    resp = await post(client, "/admin/rooms/doomed/delete", token)
    assert resp.status == 303 and resp.headers["Location"] == "/admin"
    assert await close_frame(ws) == (4000, "room deleted")
    assert await history(client, "doomed") == []
    assert await client.server.app[STORE].room("doomed") is None
    assert "doomed" not in client.server.app[HUB].locked
    assert "doomed" not in (await room_table(client)).rows
    again = await ws_connect("doomed")  # the name is free again, and open
    await say(again, "a fresh start")


async def test_a_room_keeps_its_messages_for_the_days_chosen_or_forever(client: Client) -> None:
    token = await login(client)
    store = client.server.app[STORE]
    assert (await post(client, "/admin/rooms/lobby/retention", token, keep="days", days="30")).status == 303
    stats = await admin_store.room_stat(store, "lobby", "")
    assert stats is not None and stats.retention_days == 30
    assert "Now: 30 days" in await (await client.get("/admin/rooms/lobby")).text()
    assert (await post(client, "/admin/rooms/lobby/retention", token, keep="forever", days="30")).status == 303
    stats = await admin_store.room_stat(store, "lobby", "")
    assert stats is not None and stats.retention_days is None
    for bad in ("0", "-1", "many", "999999"):
        resp = await post(client, "/admin/rooms/lobby/retention", token, keep="days", days=bad)
        assert resp.status == 400, bad


async def test_the_room_table_counts_are_right_right_after_a_burst_in_several_rooms(
        client: Client, ws_connect: WsConnect) -> None:
    await login(client)
    burst = {"alpha": 37, "beta": 5, "gamma": 120}
    sockets = {room: await ws_connect(room, user="bot") for room in burst}
    watcher = await ws_connect("alpha", user="watcher")
    await recv_type(watcher, "presence")
    for room, n in burst.items():
        ws = sockets[room]
        for i in range(n):
            await ws.send_json({"message": f"{room} {i}", "user": f"user{i % 4}"})
    for room, n in burst.items():
        await recv_chats(sockets[room], n)
    quiet = await ws_connect("quiet")  # connected, never posted
    await recv_type(quiet, "presence")

    table = await room_table(client)
    for room, n in burst.items():
        assert table.rows[room]["count"] == str(n), room
        assert table.rows[room]["names"] == str(min(n, 4)), room
    assert table.rows["alpha"]["connections"] == "2"
    assert table.rows["quiet"]["connections"] == "1" and table.rows["quiet"]["count"] == "0"

    data = await (await client.get("/admin/api/rooms")).json()
    rooms = {r["name"]: r for r in data["rooms"]}
    assert {room: rooms[room]["messages"] for room in burst} == burst
    assert data["totals"]["messages"] == sum(burst.values())
    assert data["totals"]["rooms"] == 4
    assert data["totals"]["connections"] == 5
    assert data["totals"]["db_bytes"] > 0
    lasts = [r["last_message_at"] or "" for r in data["rooms"]]
    assert lasts == sorted(lasts, reverse=True)  # most recently active first
    assert [r["name"] for r in data["rooms"]] == table.order


async def test_the_room_table_links_each_room_to_its_admin_page(client: Client, ws_connect: WsConnect) -> None:
    await login(client)
    await say(await ws_connect("lobby"), "hello")
    html = await (await client.get("/admin")).text()
    assert '<tr data-room="lobby">' in html
    assert 'href="/admin/rooms/lobby"' in html


# ---- the record ----

async def test_every_admin_action_is_recorded_in_the_audit_log(client: Client, ws_connect: WsConnect) -> None:
    token = await login(client)
    sent = await say(await ws_connect("lobby"), "spam")
    for path, data in [
        (f"/admin/rooms/lobby/messages/{sent['id']}/delete", {}),
        ("/admin/rooms/lobby/lock", {}),
        ("/admin/rooms/lobby/unlock", {}),
        ("/admin/rooms/lobby/retention", {"keep": "days", "days": "7"}),
        ("/admin/rooms/lobby/clear", {}),
        ("/admin/rooms/lobby/delete", {}),
    ]:
        assert (await post(client, path, token, **data)).status == 303, path
    entries, _ = await admin_store.audit_entries(client.server.app[STORE], None, 100)
    assert [e.action for e in reversed(entries)] == [
        "login", "delete_message", "lock", "unlock", "retention", "clear", "delete_room"]
    assert all(e.client == "127.0.0.1" and e.at.endswith("Z") for e in entries)
    deleted = next(e for e in entries if e.action == "delete_message")
    assert deleted.room == "lobby" and deleted.message_id == sent["id"]
    html = await (await client.get("/admin/audit")).text()
    assert html.count("<tr data-action=") == len(entries)
    assert f'<td data-label="Message" class="num">{sent["id"]}</td>' in html
