"""Bots through the real app: made on /admin/bots and by the CLI, posting with a token as JSON
and as plain text, and every refusal the socket has, with its HTTP status."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientWebSocketResponse

from chatapp import cli
from chatapp.settings import Settings

from .admin_client import login, post, say
from .conftest import recv_chats, recv_type
from .member_client import Client, fresh_browser, sign_up, submit

WsConnect = Callable[..., Awaitable[ClientWebSocketResponse]]
_TOKEN = re.compile(r'id="bot-token">([^<]+)<')
_SECRET = re.compile(r'id="webhook-secret">([^<]+)<')


async def make_bot(client: Client, csrf: str, name: str, rooms: str = "", webhook: str = "") -> str:
    """Make a bot on /admin/bots (logged in as the operator); its token, as the page shows it once."""
    response = await post(client, "/admin/bots", csrf, name=name, rooms=rooms, webhook=webhook)
    page = await response.text()
    assert response.status == 200, page
    match = _TOKEN.search(page)
    assert match, page
    return html.unescape(match.group(1))


def webhook_secret(page: str) -> str:
    match = _SECRET.search(page)
    assert match, page
    return html.unescape(match.group(1))


async def bot_post(client: Client, room: str, token: str | None, body: Any = None, *, text: str | None = None,
                   headers: dict[str, str] | None = None) -> ClientResponse:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if text is not None:
        return await client.post(f"/api/rooms/{room}/messages", data=text.encode(), headers=sent)
    return await client.post(f"/api/rooms/{room}/messages", json=body, headers=sent)


async def error_of(response: ClientResponse, status: int) -> str:
    body = await response.json()
    assert response.status == status, body
    assert body["type"] == "error" and body["detail"], body
    return str(body["error"])


# ---- posting ----

async def test_a_bot_posts_json_and_the_frame_arrives_live_marked_as_a_bot(
        client: Client, ws_connect: WsConnect) -> None:
    token = await make_bot(client, await login(client), "deploy")
    ws = await ws_connect("lobby", user="alice")
    response = await bot_post(client, "lobby", token, {"message": "build 42 is out", "client_id": "b-1"})
    assert response.status == 201
    answer = await response.json()
    (live,) = await recv_chats(ws, 1)
    assert live == answer
    assert live["user"] == "deploy" and live["bot"] is True and live["message"] == "build 42 is out"
    assert "member" not in live and live["client_id"] == "b-1"
    history = (await (await client.get("/api/rooms/lobby/messages")).json())["messages"]
    assert history[-1]["bot"] is True and history[-1]["id"] == live["id"]


async def test_a_plain_text_body_is_the_message_as_curl_d_sends_it(client: Client, ws_connect: WsConnect) -> None:
    token = await make_bot(client, await login(client), "ci")
    ws = await ws_connect("builds")
    # What `curl -d "deploy done" -H "Authorization: Bearer …"` sends: form-encoded, but raw text.
    response = await bot_post(client, "builds", token, text="deploy done",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 201, await response.text()
    (live,) = await recv_chats(ws, 1)
    assert (live["message"], live["user"], live["bot"]) == ("deploy done", "ci", True)
    piped = await bot_post(client, "builds", token, text="line one\nline two\n",
                           headers={"Content-Type": "text/plain; charset=utf-8"})
    assert (await piped.json())["message"] == "line one\nline two"  # the trailing newline of a pipe goes


async def test_a_reply_to_a_message_quotes_it(client: Client, ws_connect: WsConnect) -> None:
    token = await make_bot(client, await login(client), "helper")
    ws = await ws_connect("lobby", user="alice")
    asked = await say(ws, "how do I deploy?")
    response = await bot_post(client, "lobby", token, {"message": "run make deploy", "reply_to": asked["id"]})
    assert response.status == 201
    (live,) = await recv_chats(ws, 1)
    assert live["reply_to"] == asked["id"] and live["reply"]["user"] == "alice"


async def test_bad_missing_rotated_and_revoked_tokens_get_401(client: Client) -> None:
    csrf = await login(client)
    token = await make_bot(client, csrf, "deploy")
    assert await error_of(await bot_post(client, "lobby", None, {"message": "hi"}), 401) == "invalid_token"
    missing = await bot_post(client, "lobby", None, {"message": "hi"})
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    for bad in ("nonsense", token[:-2] + "xx", token.replace("cab_1_", "cab_2_"), token + "x" * 200):
        assert await error_of(await bot_post(client, "lobby", bad, {"message": "hi"}), 401) == "invalid_token"
    rotated = await post(client, "/admin/bots/1/rotate", csrf)
    new_token = html.unescape(_TOKEN.search(await rotated.text()).group(1))  # type: ignore[union-attr]
    assert await error_of(await bot_post(client, "lobby", token, {"message": "hi"}), 401) == "invalid_token"
    assert (await bot_post(client, "lobby", new_token, {"message": "hi"})).status == 201
    assert (await post(client, "/admin/bots/1/revoke", csrf)).status == 303
    assert await error_of(await bot_post(client, "lobby", new_token, {"message": "hi"}), 401) == "token_revoked"
    page = await (await client.get("/admin/bots")).text()
    assert 'data-state="revoked"' in page


async def test_validation_errors_use_the_socket_codes_with_fitting_statuses(client: Client) -> None:
    token = await make_bot(client, await login(client), "deploy")
    assert await error_of(await bot_post(client, "lobby", token, {"message": "  "}), 400) == "empty_message"
    assert await error_of(await bot_post(client, "lobby", token, {"message": "x" * 4001}), 413) == "message_too_long"
    assert await error_of(await bot_post(client, "lobby", token, text="x" * 70_000), 413) == "message_too_long"
    assert await error_of(await bot_post(client, "lobby", token, {"message": 5}), 400) == "invalid_message"
    assert await error_of(await bot_post(client, "lobby", token, ["message"]), 400) == "invalid_frame"
    assert await error_of(await bot_post(client, "lobby", token, text="{oops", headers={
        "Content-Type": "application/json"}), 400) == "invalid_json"
    assert await error_of(await bot_post(client, "lobby", token, text="bell \x07"), 400) == "invalid_characters"
    assert await error_of(await bot_post(client, "lobby", token, {"message": "hi", "client_id": ""}),
                          400) == "invalid_client_id"
    assert await error_of(await bot_post(client, "lobby", token, {"message": "hi", "reply_to": 999}),
                          422) == "reply_not_found"
    assert await error_of(await bot_post(client, "no%20such", token, {"message": "hi"}), 404) == "room_not_found"
    assert (await (await client.get("/api/rooms/lobby/messages")).json())["messages"] == []


async def test_a_retry_with_the_same_client_id_answers_200_with_the_original(
        client: Client, ws_connect: WsConnect) -> None:
    token = await make_bot(client, await login(client), "deploy")
    ws = await ws_connect("lobby", user="alice")
    first = await bot_post(client, "lobby", token, {"message": "deployed", "client_id": "deploy-77"})
    again = await bot_post(client, "lobby", token, {"message": "deployed", "client_id": "deploy-77"})
    assert (first.status, again.status) == (201, 200)
    assert await first.json() == await again.json()
    (published,) = await recv_chats(ws, 1)
    assert published["client_id"] == "deploy-77"
    mine = await say(ws, "mine", client_id="taken-id")
    assert mine["message"] == "mine"  # the next frame: the retry was not published again
    stolen = await bot_post(client, "lobby", token, {"message": "not mine", "client_id": "taken-id"})
    assert await error_of(stolen, 409) == "client_id_taken"
    messages = (await (await client.get("/api/rooms/lobby/messages")).json())["messages"]
    assert [m["message"] for m in messages] == ["deployed", "mine"]


async def test_a_locked_room_refuses_a_bot_with_423_until_it_is_unlocked(client: Client) -> None:
    csrf = await login(client)
    token = await make_bot(client, csrf, "deploy")
    assert (await bot_post(client, "ops", token, {"message": "first"})).status == 201
    assert (await post(client, "/admin/rooms/ops/lock", csrf)).status == 303
    assert await error_of(await bot_post(client, "ops", token, {"message": "locked?"}), 423) == "room_locked"
    assert (await post(client, "/admin/rooms/ops/unlock", csrf)).status == 303
    assert (await bot_post(client, "ops", token, {"message": "open again"})).status == 201


async def test_the_per_bot_rate_limit_answers_429_with_retry_after(make_client: Any) -> None:
    client = await make_client(bot_rate=0.5, bot_burst=2)
    csrf = await login(client)
    fast, other = await make_bot(client, csrf, "fast"), await make_bot(client, csrf, "other")
    assert [(await bot_post(client, "lobby", fast, {"message": f"m{i}"})).status for i in range(2)] == [201, 201]
    limited = await bot_post(client, "lobby", fast, {"message": "one too many", "client_id": "c3"})
    assert await error_of(limited, 429) == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 2
    assert (await bot_post(client, "lobby", other, {"message": "each bot has its own"})).status == 201


async def test_a_bot_limited_to_rooms_gets_404_elsewhere_and_may_use_a_listed_private_room(
        client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    await submit(client, "/private/new", room="secret")
    await submit(client, "/private/new", room="hidden")
    operator = await fresh_browser(client, aiohttp_client)
    csrf = await login(operator)
    limited = await make_bot(operator, csrf, "ops-bot", rooms="#ops, secret")
    anywhere = await make_bot(operator, csrf, "chatty")
    assert (await bot_post(operator, "ops", limited, {"message": "in ops"})).status == 201
    assert (await bot_post(operator, "secret", limited, {"message": "in a listed private room"})).status == 201
    for room in ("lobby", "hidden", "dm-1-2"):
        assert await error_of(await bot_post(operator, room, limited, {"message": "no"}), 404) == "room_not_found"
    # A bot with no list: every public room, but no private room and no DM.
    assert (await bot_post(operator, "lobby", anywhere, {"message": "public"})).status == 201
    for room in ("secret", "hidden", "dm-1-2"):
        assert await error_of(await bot_post(operator, room, anywhere, {"message": "no"}), 404) == "room_not_found"
    history = await client.get("/api/rooms/secret/messages")  # alice sees it in her room
    assert [m["message"] for m in (await history.json())["messages"]] == ["in a listed private room"]
    changed = await post(operator, "/admin/bots/1/rooms", csrf, rooms="")
    assert changed.status == 303
    assert (await bot_post(operator, "lobby", limited, {"message": "every public room now"})).status == 201
    assert await error_of(await bot_post(operator, "secret", limited, {"message": "no"}), 404) == "room_not_found"


async def test_in_members_only_mode_a_bot_posts_with_its_token_alone(make_client: Any) -> None:
    client = await make_client(access="members")
    token = await make_bot(client, await login(client), "deploy")
    assert (await bot_post(client, "lobby", token, {"message": "hi"})).status == 201
    assert await error_of(await bot_post(client, "lobby", "cab_1_wrong", {"message": "hi"}), 401) == "invalid_token"


# ---- names ----

async def test_a_bot_name_is_nobody_elses_members_and_guests_included(client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    operator = await fresh_browser(client, aiohttp_client)
    csrf = await login(operator)
    refused = await post(operator, "/admin/bots", csrf, name="ALICE", rooms="", webhook="")
    assert refused.status == 400 and "taken" in await refused.text()
    await make_bot(operator, csrf, "deploy")
    visitor = await fresh_browser(client, aiohttp_client)
    signup = await submit(visitor, "/signup", name="Deploy", password="a long enough password")
    assert signup.status != 303  # the bot's name, folded, is taken
    handshake = await visitor.get("/ws/lobby", params={"user": "deploy"})
    assert handshake.status == 400 and "name_taken" in await handshake.text()
    ws = await visitor.ws_connect("/ws/lobby", params={"user": "guest"})
    await ws.send_json({"message": "I am the bot", "user": "DEPLOY"})
    assert (await recv_type(ws, "error"))["error"] == "name_taken"
    for bad in ("two words", "émoji✨", "x" * 33, "Anonymous", "---"):
        response = await post(operator, "/admin/bots", csrf, name=bad, rooms="", webhook="")
        assert response.status == 400, bad


async def test_admin_actions_on_bots_are_in_the_audit_log(client: Client) -> None:
    csrf = await login(client)
    await make_bot(client, csrf, "deploy", rooms="ops")
    await post(client, "/admin/bots/1/rooms", csrf, rooms="ops, builds")
    await post(client, "/admin/bots/1/rotate", csrf)
    await post(client, "/admin/bots/1/revoke", csrf)
    audit = await (await client.get("/admin/audit")).text()
    for action in ("bot create", "bot rooms", "bot rotate", "bot revoke"):
        assert action in audit
    assert "bot deploy; rooms: #ops, #builds" in audit
    page = await (await client.get("/admin/bots")).text()
    assert "#builds, #ops" in page and 'data-bot="deploy"' in page


async def test_the_bots_page_is_the_admins_alone(client: Client) -> None:
    page = await client.get("/admin/bots", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"].startswith("/admin/login")
    made = await client.post("/admin/bots", data={"name": "sneaky"}, allow_redirects=False)
    assert made.status == 403


# ---- the command line ----

async def run_cli(*argv: str) -> int:
    return await asyncio.to_thread(cli.main, list(argv))


async def test_chatapp_bots_create_prints_a_token_that_works_at_once(
        client: Client, settings: Settings, ws_connect: WsConnect, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run_cli("bots", "create", "nightly", "--rooms", "builds", "--db", settings.db) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("cab_") and "shown only now" in err
    ws = await ws_connect("builds")
    assert (await bot_post(client, "builds", token, {"message": "nightly passed"})).status == 201
    assert (await recv_chats(ws, 1))[0]["user"] == "nightly"
    assert await error_of(await bot_post(client, "lobby", token, {"message": "x"}), 404) == "room_not_found"

    assert await run_cli("bots", "list", "--db", settings.db) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split()[:3] == ["NAME", "STATE", "ROOMS"]
    assert listed[1].split()[:3] == ["nightly", "active", "#builds"]
    assert await run_cli("bots", "rotate", "NIGHTLY", "--db", settings.db) == 0
    rotated = capsys.readouterr().out.strip()
    assert await error_of(await bot_post(client, "builds", token, {"message": "x"}), 401) == "invalid_token"
    assert (await bot_post(client, "builds", rotated, {"message": "rotated"})).status == 201
    assert await run_cli("bots", "revoke", "nightly", "--db", settings.db) == 0
    assert capsys.readouterr().out.strip() == "revoked nightly"
    assert await error_of(await bot_post(client, "builds", rotated, {"message": "x"}), 401) == "token_revoked"
    assert await run_cli("bots", "create", "nightly", "--db", settings.db) == 1
    assert "taken" in capsys.readouterr().err
    await login(client)
    audit = await (await client.get("/admin/audit")).text()
    assert "bot create" in audit and "bot revoke" in audit and ">cli<" in audit


async def test_chatapp_post_goes_through_the_running_server_and_shows_live(
        client: Client, settings: Settings, ws_connect: WsConnect, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    token = await make_bot(client, await login(client), "cron")
    ws = await ws_connect("ops")
    url = str(client.make_url("")).rstrip("/")
    monkeypatch.setenv("CHATAPP_BOT_TOKEN", token)
    assert await run_cli("post", "ops", "backup finished", "--url", url, "--client-id", "backup-1") == 0
    (live,) = await recv_chats(ws, 1)
    assert (live["message"], live["user"], live["bot"]) == ("backup finished", "cron", True)
    assert capsys.readouterr().out.strip() == f"posted message {live['id']} to #ops"
    monkeypatch.setenv("CHATAPP_BOT_TOKEN", "cab_1_wrong")
    assert await run_cli("post", "ops", "nope", "--url", url) == 1
    assert capsys.readouterr().err.startswith("chatapp post: invalid_token: ")
    monkeypatch.delenv("CHATAPP_BOT_TOKEN")
    assert await run_cli("post", "ops", "nope", "--url", url) == 2
    assert await run_cli("post", "ops", "x", "--url", "http://127.0.0.1:9", "--token", token) == 1
    assert "cannot reach" in capsys.readouterr().err
    messages = (await (await client.get("/api/rooms/ops/messages")).json())["messages"]
    assert [m["message"] for m in messages] == ["backup finished"]
