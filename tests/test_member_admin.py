"""Member administration through the real app: /admin/members and its actions (each in the
audit log, with who did it), the admin role, join links and one-time reset links, and the
per-address limit on signups."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from chatapp.accounts.joinlinks import token_hash
from chatapp.admin.members import ACCOUNT_DEACTIVATED
from chatapp.keys import STORE
from chatapp.settings import Settings

from . import admin_client
from .conftest import MakeClient, db_execute, recv_type
from .member_client import PASSWORD, fresh_browser, log_in, sign_up, submit

Client = TestClient[Any, Any]


async def close_code(ws: ClientWebSocketResponse) -> int | None:
    """The code of the close frame the server sends (skipping other frames), within a second."""
    async with asyncio.timeout(1.0):
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.CLOSE:
                return int(msg.data)
            if msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR):
                return None


async def member_id(settings: Settings, name: str) -> int:
    rows = await db_execute(settings.db, "SELECT id FROM members WHERE name = ?", name)
    return int(rows[0][0])


async def audit(settings: Settings) -> list[tuple[Any, ...]]:
    return await db_execute(settings.db, "SELECT action, actor, detail FROM audit_log ORDER BY id")


async def operator(client: Client, aiohttp_client: Any) -> tuple[Client, str]:
    """Another browser, logged in to the admin with the operator password; its CSRF token."""
    browser = await fresh_browser(client, aiohttp_client)
    return browser, await admin_client.login(browser)


def new_link(html: str) -> str:
    match = re.search(r'<code id="new-link">([^<]+)</code>', html)
    assert match, html
    return match.group(1)


async def test_the_members_page_lists_members_with_role_status_and_times(
        client: Client, aiohttp_client: Any, settings: Settings) -> None:
    await sign_up(client, "alice")
    admin, _ = await operator(client, aiohttp_client)
    page = await admin.get("/admin/members")
    html = await page.text()
    assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
    assert 'data-member="alice" data-status="active" data-role="member"' in html
    assert "Last seen" in html and "Joined" in html


async def test_the_members_page_pages_by_id_and_finds_by_name(
        client: Client, aiohttp_client: Any, settings: Settings) -> None:
    store = client.app[STORE]
    for i in range(55):
        await store.create_member(f"user{i}", f"user{i}", "x", "2024-01-01T00:00:00.000Z")
    admin, _ = await operator(client, aiohttp_client)
    first = await (await admin.get("/admin/members")).text()
    assert 'data-member="user54"' in first and 'data-member="user4"' not in first
    older = re.search(r'id="more-members" class="more" href="([^"]+)"', first)
    assert older and "before=" in older.group(1)
    second = await (await admin.get(older.group(1).replace("&amp;", "&"))).text()
    assert 'data-member="user4"' in second and 'data-member="user54"' not in second
    found = await (await admin.get("/admin/members", params={"q": "USER5"})).text()
    assert re.findall(r'data-member="([^"]+)"', found) == ["user54", "user53", "user52", "user51", "user50", "user5"]


async def test_deactivating_a_member_closes_their_socket_ends_their_sessions_and_refuses_login(
        client: Client, aiohttp_client: Any, settings: Settings) -> None:
    await sign_up(client, "alice")
    ws = await client.ws_connect("/ws/lobby")
    await recv_type(ws, "presence")  # in the room
    admin, token = await operator(client, aiohttp_client)
    alice = await member_id(settings, "alice")
    response = await admin_client.post(admin, f"/admin/members/{alice}/deactivate", token)
    assert response.status == 303 and response.headers["Location"] == "/admin/members"
    assert await close_code(ws) == ACCOUNT_DEACTIVATED
    assert (await client.get("/account", allow_redirects=False)).status == 302
    again = await log_in(client, "alice")
    assert again.status == 403 and "deactivated" in await again.text()
    wrong = await log_in(client, "alice", "not the password")
    assert wrong.status == 401 and "deactivated" not in await wrong.text()  # says nothing without the password
    assert await audit(settings) == [("login", None, None),
                                     ("deactivate", None, "member alice; 1 sockets closed")]


async def test_a_reactivated_member_can_log_in_again(client: Client, aiohttp_client: Any, settings: Settings) -> None:
    await sign_up(client, "alice")
    admin, token = await operator(client, aiohttp_client)
    alice = await member_id(settings, "alice")
    await admin_client.post(admin, f"/admin/members/{alice}/deactivate", token)
    response = await admin_client.post(admin, f"/admin/members/{alice}/reactivate", token)
    assert response.status == 303
    assert (await log_in(client, "alice")).status == 303
    assert (await audit(settings))[-1] == ("reactivate", None, "member alice")


async def test_an_admin_member_can_use_the_admin_and_is_named_in_the_audit_log(
        client: Client, aiohttp_client: Any, settings: Settings) -> None:
    await sign_up(client, "alice")
    assert (await client.get("/admin/members", allow_redirects=False)).status == 302  # a plain member
    refused = await client.post("/admin/members/1/deactivate", allow_redirects=False,
                                data={"csrf_token": await admin_client_token(client)})
    assert refused.status == 403
    admin, token = await operator(client, aiohttp_client)
    alice = await member_id(settings, "alice")
    assert (await admin_client.post(admin, f"/admin/members/{alice}/make-admin", token)).status == 303
    page = await client.get("/admin/members", allow_redirects=False)
    assert page.status == 200 and "(you)" in await page.text()
    other = await fresh_browser(client, aiohttp_client)
    await sign_up(other, "bob")
    bob = await member_id(settings, "bob")
    response = await admin_client.post(client, f"/admin/members/{bob}/deactivate",
                                       admin_client.token_in(await page.text()))
    assert response.status == 303
    assert (await audit(settings))[-2:] == [("make_admin", None, "member alice"),
                                           ("deactivate", "alice", "member bob; 0 sockets closed")]
    # Removing the role takes /admin away at once.
    assert (await admin_client.post(admin, f"/admin/members/{alice}/remove-admin", token)).status == 303
    assert (await client.get("/admin/members", allow_redirects=False)).status == 302


async def admin_client_token(client: Client) -> str:
    return admin_client.token_in(await (await client.get("/account")).text())


async def test_an_admin_cannot_deactivate_or_demote_themselves(
        client: Client, aiohttp_client: Any, settings: Settings) -> None:
    await sign_up(client, "alice")
    await client.app[STORE].set_member_role(await member_id(settings, "alice"), "admin")
    token = admin_client.token_in(await (await client.get("/admin/members")).text())
    alice = await member_id(settings, "alice")
    for action in ("deactivate", "remove-admin"):
        assert (await admin_client.post(client, f"/admin/members/{alice}/{action}", token)).status == 303
    rows = await db_execute(settings.db, "SELECT role, status FROM members")
    assert rows == [("admin", "active")]


async def test_join_links_are_made_used_and_revoked_from_the_admin(
        make_client: MakeClient, aiohttp_client: Any, settings: Settings) -> None:
    client = await make_client(signup="invite")
    admin, token = await operator(client, aiohttp_client)
    made = await admin_client.post(admin, "/admin/join-links", token, max_uses="2", days="3")
    link = new_link(await made.text())
    assert made.status == 200 and made.headers["Cache-Control"] == "no-store"
    path = link[link.index("/join/"):]
    await sign_up(client, "carol", path=path)
    listed = await (await admin.get("/admin/members")).text()
    assert "1 of 2" in listed
    digest = token_hash(path.removeprefix("/join/"))
    assert (await admin_client.post(admin, f"/admin/join-links/{digest}/revoke", token)).status == 303
    late = await fresh_browser(client, aiohttp_client)
    assert (await late.get(path)).status == 403
    assert [a[0] for a in await audit(settings)][-2:] == ["make_join_link", "revoke_join_link"]


async def test_a_reset_link_works_once_and_ends_the_members_other_sessions(
        client: Client, aiohttp_client: Any, settings: Settings) -> None:
    await sign_up(client, "alice")
    ws = await client.ws_connect("/ws/lobby")
    await recv_type(ws, "presence")
    admin, token = await operator(client, aiohttp_client)
    made = await admin_client.post(admin, f"/admin/members/{await member_id(settings, 'alice')}/reset-link", token)
    link = new_link(await made.text())
    path = link[link.index("/reset/"):]
    browser = await fresh_browser(client, aiohttp_client)
    form = await browser.get(path)
    assert form.status == 200 and "alice" in await form.text()
    done = await submit(browser, path, password="a brand new password")
    assert done.status == 303 and done.headers["Location"] == "/account"
    assert (await browser.get("/account", allow_redirects=False)).status == 200
    assert await close_code(ws) == 4001
    assert (await client.get("/account", allow_redirects=False)).status == 302
    assert (await log_in(client, "alice", PASSWORD)).status == 401
    assert (await log_in(client, "alice", "a brand new password")).status == 303
    assert (await browser.get(path)).status == 410  # once only
    assert (await audit(settings))[-1] == ("reset_link", None, "member alice")


async def test_a_reset_link_expires(client: Client, aiohttp_client: Any, settings: Settings) -> None:
    await sign_up(client, "alice")
    from chatapp.accounts.resets import RESET_VALID_FOR, make_reset_link
    past = dt.datetime.now(dt.UTC) - RESET_VALID_FOR - dt.timedelta(minutes=1)
    token = await make_reset_link(client.app[STORE], await member_id(settings, "alice"), now=past)
    browser = await fresh_browser(client, aiohttp_client)
    page = await browser.get(f"/reset/{token}")
    assert page.status == 410 and "expired" in await page.text()
    assert (await submit(browser, f"/reset/{token}", token_from="/login", password="another password")).status == 410


async def test_signups_from_one_address_are_limited(client: Client, aiohttp_client: Any) -> None:
    from chatapp.accounts.views import SIGNUP_BURST
    for i in range(SIGNUP_BURST):
        await sign_up(await fresh_browser(client, aiohttp_client), f"person{i}")
    refused = await submit(await fresh_browser(client, aiohttp_client), "/signup", name="one more", password=PASSWORD)
    assert refused.status == 429 and "Retry-After" in refused.headers
