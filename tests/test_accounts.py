"""Members, through the real app: signing up, logging in and out, throttling, sessions that
end everywhere (open sockets included), names nobody else may take, and frames that say
who is a guest."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from aiohttp import DummyCookieJar, WSServerHandshakeError
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from chatapp.accounts.joinlinks import make_join_link, token_hash
from chatapp.accounts.names import fold
from chatapp.keys import STORE
from chatapp.sessions import COOKIE_NAME
from chatapp.settings import Settings
from chatapp.throttle import FREE_ATTEMPTS, LOGIN_THROTTLE

from .conftest import MakeClient, closed, db_execute, recv, recv_chats, recv_type
from .member_client import PASSWORD, fresh_browser, log_in, sign_up, submit

Client = TestClient[Any, Any]


def cookie_of(client: Client) -> str:
    return next(c.value for c in client.session.cookie_jar if c.key == COOKIE_NAME)


async def whoami(client: Client) -> int:
    return (await client.get("/account", allow_redirects=False)).status


# ---- signing up, logging in and out ----

async def test_signing_up_logs_the_new_member_in(client: Client, settings: Settings) -> None:
    await sign_up(client, "Alice")
    assert await whoami(client) == 200
    assert "Alice" in await (await client.get("/account")).text()
    rows = await db_execute(settings.db, "SELECT name, role, status, password_hash FROM members")
    assert rows[0][:3] == ("Alice", "member", "active")
    assert rows[0][3].startswith("$argon2id$") and PASSWORD not in rows[0][3]


async def test_a_member_logs_in_with_the_right_password_only(client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    other = await fresh_browser(client, aiohttp_client)
    wrong = await log_in(other, "alice", "not the password")
    assert wrong.status == 401 and "do not match" in await wrong.text()
    assert await whoami(other) == 302
    right = await log_in(other, "ALICE", PASSWORD)  # names are found folded
    assert right.status == 303 and right.headers["Location"] == "/"
    assert await whoami(other) == 200


async def test_login_sends_the_member_to_a_safe_next_page_only(client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    other = await fresh_browser(client, aiohttp_client)
    good = await submit(other, "/login", name="alice", password=PASSWORD, next="/rooms/lobby")
    assert good.headers["Location"] == "/rooms/lobby"
    other = await fresh_browser(client, aiohttp_client)
    evil = await submit(other, "/login", name="alice", password=PASSWORD, next="//evil.example/")
    assert evil.headers["Location"] == "/"


async def test_logging_out_ends_the_session_and_a_copied_cookie_with_it(
        client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    copied = cookie_of(client)
    response = await submit(client, "/logout", token_from="/account")
    assert response.status == 303
    assert await whoami(client) == 302
    thief: Client = await aiohttp_client(client.server, cookie_jar=DummyCookieJar())
    replay = await thief.get("/account", headers={"Cookie": f"{COOKIE_NAME}={copied}"}, allow_redirects=False)
    assert replay.status == 302


async def test_a_cookie_planted_before_login_is_not_the_one_that_logs_in(
        client: Client, aiohttp_client: Any) -> None:
    await client.get("/login")
    planted = cookie_of(client)
    await sign_up(client, "alice")
    assert cookie_of(client) != planted
    # Whoever planted it, replaying it, is still nobody.
    planter: Client = await aiohttp_client(client.server, cookie_jar=DummyCookieJar())
    replay = await planter.get("/account", headers={"Cookie": f"{COOKIE_NAME}={planted}"}, allow_redirects=False)
    assert replay.status == 302


async def test_wrong_passwords_are_throttled_per_account_across_addresses(
        client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    other = await fresh_browser(client, aiohttp_client)
    for _ in range(FREE_ATTEMPTS):
        assert (await log_in(other, "alice", "guess")).status == 401
    client.server.app[LOGIN_THROTTLE].succeeded("127.0.0.1")  # as if the next came from elsewhere
    throttled = await log_in(other, "alice", PASSWORD)  # even the right one waits
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert "Too many wrong passwords" in await throttled.text()


async def test_wrong_passwords_for_many_names_are_throttled_per_address(
        client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    other = await fresh_browser(client, aiohttp_client)
    for i in range(FREE_ATTEMPTS):
        assert (await log_in(other, f"someone{i}", "guess")).status == 401
    assert (await log_in(other, "alice", PASSWORD)).status == 429


async def test_a_hash_made_with_old_parameters_is_replaced_at_login(
        client: Client, aiohttp_client: Any, settings: Settings) -> None:
    await sign_up(client, "alice")
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash(PASSWORD)
    await db_execute(settings.db, "UPDATE members SET password_hash = ?", old)
    other = await fresh_browser(client, aiohttp_client)
    assert (await log_in(other, "alice", PASSWORD)).status == 303
    (new,), = await db_execute(settings.db, "SELECT password_hash FROM members")
    assert new != old and not PasswordHasher().check_needs_rehash(new)


async def test_every_new_post_refuses_a_missing_token_and_another_site(client: Client) -> None:
    await sign_up(client, "alice")
    for path in ("/signup", "/login", "/logout", "/account/password", "/account/logout-everywhere"):
        no_token = await client.post(path, data={"name": "x", "password": PASSWORD}, allow_redirects=False)
        assert no_token.status == 403, path
        token = (await (await client.get("/account")).text()).split('name="csrf_token" value="')[1].split('"')[0]
        cross = await client.post(path, data={"name": "x", "password": PASSWORD, "csrf_token": token},
                                  headers={"Origin": "https://evil.example"}, allow_redirects=False)
        assert cross.status == 403, path
    assert await whoami(client) == 200  # none of them did anything


# ---- sessions that end everywhere ----

async def test_changing_the_password_ends_every_other_session(client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    other = await fresh_browser(client, aiohttp_client)
    await log_in(other, "alice")
    copied = cookie_of(other)
    changed = await submit(client, "/account/password", token_from="/account",
                           current_password=PASSWORD, new_password="another fine password")
    assert changed.status == 303
    assert await whoami(client) == 200  # this browser stays in
    assert await whoami(other) == 302
    thief: Client = await aiohttp_client(client.server, cookie_jar=DummyCookieJar())
    replay = await thief.get("/account", headers={"Cookie": f"{COOKIE_NAME}={copied}"}, allow_redirects=False)
    assert replay.status == 302
    assert (await log_in(other, "alice", "another fine password")).status == 303


async def test_a_wrong_current_password_changes_nothing(client: Client) -> None:
    await sign_up(client, "alice")
    refused = await submit(client, "/account/password", token_from="/account",
                           current_password="wrong one", new_password="another fine password")
    assert refused.status == 400 and "current password is not right" in await refused.text()


async def test_logging_out_everywhere_closes_the_members_open_sockets_with_4001(
        client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    ws = await client.ws_connect("/ws/lobby")
    other = await fresh_browser(client, aiohttp_client)
    guest_ws = await other.ws_connect("/ws/lobby", params={"user": "bob"})
    response = await submit(client, "/account/logout-everywhere", token_from="/account")
    assert response.status == 303
    async with asyncio.timeout(1.0):  # "within a second"
        assert await closed(ws) == 4001
    await guest_ws.send_json({"message": "still here"})
    assert (await recv_chats(guest_ws, 1))[0]["message"] == "still here"
    assert await whoami(client) == 302


# ---- names ----

@pytest.mark.parametrize("taken", ["alice", "Alice", "ALICE", "\u0430lice", "\uff41\uff4c\uff49\uff43\uff45"])
async def test_a_name_folding_to_a_members_name_cannot_sign_up(
        client: Client, aiohttp_client: Any, taken: str) -> None:
    await sign_up(client, "alice")
    other = await fresh_browser(client, aiohttp_client)
    response = await submit(other, "/signup", name=taken, password=PASSWORD)
    assert response.status == 409 and "is taken" in await response.text()


def test_folding_keeps_different_names_apart() -> None:
    assert fold("alice") == fold("\u0430LICE")
    assert fold("alice") != fold("alicia")
    assert fold("zoë") == fold("ZOË") != fold("zoe")


async def test_a_guest_cannot_connect_under_a_members_name(client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    guest = await fresh_browser(client, aiohttp_client)
    with pytest.raises(WSServerHandshakeError) as refused:
        await guest.ws_connect("/ws/lobby", params={"user": "\u0430lice"})
    assert refused.value.status == 400
    explained = await guest.get("/ws/lobby", params={"user": "ALICE"})
    assert (await explained.json())["error"] == "name_taken"


async def test_a_guest_cannot_post_under_a_members_name_and_nothing_is_posted(
        client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    guest = await fresh_browser(client, aiohttp_client)
    ws = await guest.ws_connect("/ws/lobby", params={"user": "bob"})
    await ws.send_json({"message": "I am alice", "user": "Alice", "client_id": "c1"})
    error = await recv_type(ws, "error")
    assert error["error"] == "name_taken" and error["client_id"] == "c1" and "member" in error["detail"]
    history = await (await guest.get("/api/rooms/lobby/messages")).json()
    assert history["messages"] == []


async def test_a_members_user_field_is_ignored_and_frames_say_who_is_a_guest(
        client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    ws = await client.ws_connect("/ws/lobby", params={"user": "Mallory"})
    await ws.send_json({"message": "hi", "user": "Mallory"})
    mine = (await recv_chats(ws, 1))[0]
    assert mine["user"] == "alice" and mine["member"] is True
    guest = await fresh_browser(client, aiohttp_client)
    gws = await guest.ws_connect("/ws/lobby")
    await gws.send_json({"message": "hello"})  # the bare Channels-style frame
    frame = (await recv_chats(gws, 1))[0]
    assert frame["user"] == "Anonymous" and "member" not in frame
    presence = await recv_type(ws, "presence")
    while "Anonymous" not in presence["users"]:
        presence = await recv_type(ws, "presence")
    assert presence["members"] == ["alice"]
    page = await (await guest.get("/rooms/lobby")).text()
    assert f'class="message member" data-id="{mine["id"]}"' in page
    assert f'class="message" data-id="{frame["id"]}"' in page


async def test_anonymous_is_not_a_name_anyone_can_own(client: Client) -> None:
    response = await submit(client, "/signup", name="anonymous", password=PASSWORD)
    assert response.status == 400 and "unnamed guests" in await response.text()


async def test_a_short_password_is_refused_with_the_reason(client: Client) -> None:
    response = await submit(client, "/signup", name="alice", password="short")
    assert response.status == 400 and "at least 8 characters" in await response.text()


# ---- signup modes ----

async def test_signup_closed_makes_no_accounts(make_client: MakeClient) -> None:
    client = await make_client(signup="closed")
    assert (await client.get("/signup")).status == 403
    response = await submit(client, "/signup", token_from="/login", name="alice", password=PASSWORD)
    assert response.status == 403 and await whoami(client) == 302


async def test_signup_by_invitation_takes_a_join_link_and_uses_it_up(
        make_client: MakeClient, aiohttp_client: Any) -> None:
    client = await make_client(signup="invite")
    assert (await client.get("/signup")).status == 403
    token = await make_join_link(client.server.app[STORE], max_uses=1)
    await sign_up(client, "alice", path=f"/join/{token}")
    assert await whoami(client) == 200
    other = await fresh_browser(client, aiohttp_client)
    used_up = await other.get(f"/join/{token}")
    assert used_up.status == 403 and "used up" in await used_up.text()


async def test_an_expired_or_revoked_join_link_signs_nobody_up(make_client: MakeClient) -> None:
    client = await make_client(signup="invite")
    store = client.server.app[STORE]
    old = await make_join_link(store, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=8))
    assert (await client.get(f"/join/{old}")).status == 403
    revoked = await make_join_link(store)
    assert await store.revoke_join_link(token_hash(revoked), "2000-01-01T00:00:00.000Z")
    assert (await client.get(f"/join/{revoked}")).status == 403


async def test_the_default_open_mode_still_lets_guests_chat_without_accounts(client: Client) -> None:
    ws = await client.ws_connect("/ws/lobby", params={"user": "zoë"})
    await ws.send_json({"message": "hi"})
    frame = await recv(ws)
    assert frame["user"] == "zoë" and frame["type"] == "chat"
