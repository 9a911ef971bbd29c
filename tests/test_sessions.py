"""Server-side sessions, through the real app: logging out ends a session wherever its
cookie was copied, logging out everywhere ends them all, a login always starts a new one,
and sessions expire."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, DummyCookieJar
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet

from chatapp.keys import STORE, WRITER
from chatapp.sessions import COOKIE_NAME, SESSION_IDLE, SESSION_LIFETIME, SESSIONS
from chatapp.settings import Settings

from .admin_client import login, post, token_in
from .conftest import db_execute

Client = TestClient[Any, Any]
Thief = Callable[[str, str, str], Awaitable[ClientResponse]]


def cookie_of(client: Client) -> str:
    return next(c.value for c in client.session.cookie_jar if c.key == COOKIE_NAME)


def cookie_contents(settings: Settings, value: str) -> dict[str, Any]:
    """What the encrypted cookie holds, read with the key the server made beside the database."""
    key = Path(settings.db + ".secret").read_bytes().strip()
    contents: dict[str, Any] = json.loads(Fernet(key).decrypt(value.encode()))["session"]
    return contents


@pytest.fixture
async def another_browser(client: Client, aiohttp_client: Any) -> Callable[[], Awaitable[Client]]:
    """A second browser on the same server, with a cookie jar of its own."""
    async def make() -> Client:
        other: Client = await aiohttp_client(client.server)
        return other
    return make


@pytest.fixture
async def thief(client: Client, aiohttp_client: Any) -> Thief:
    """Requests carrying a copied cookie and nothing else (no jar: it keeps nothing it is sent)."""
    copier: Client = await aiohttp_client(client.server, cookie_jar=DummyCookieJar())

    async def request(method: str, path: str, cookie: str, **kwargs: Any) -> ClientResponse:
        return await copier.request(method, path, headers={"Cookie": f"{COOKIE_NAME}={cookie}"},
                                    allow_redirects=False, **kwargs)
    return request


class Clock:
    """The sessions' clock, moved by hand."""

    def __init__(self, client: Client) -> None:
        self.now = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
        client.server.app[SESSIONS].clock = lambda: self.now

    def advance(self, by: dt.timedelta) -> None:
        self.now += by


async def operator_sessions(settings: Settings) -> list[tuple[Any, ...]]:
    return await db_execute(settings.db, "SELECT id_hash, kind, subject FROM sessions")


# ---- logging out ----

async def test_a_cookie_copied_before_logout_opens_nothing_after_logout(
        client: Client, thief: Thief) -> None:
    token = await login(client)
    copied = cookie_of(client)
    assert (await thief("GET", "/admin", copied)).status == 200  # the copy works while the session lives

    assert (await post(client, "/admin/logout", token)).status == 303

    page = await thief("GET", "/admin", copied)
    assert page.status == 302
    assert page.headers["Location"] == "/admin/login?next=/admin"
    lock = await thief("POST", "/admin/rooms/lobby/lock", copied, data={"csrf_token": token})
    assert lock.status == 403
    assert not client.server.app[WRITER].rooms.is_locked("lobby")
    export = await thief("GET", "/api/rooms/lobby/export", copied)
    assert export.status == 302
    assert export.headers["Location"].startswith("/admin/login?next=")
    poll = await thief("GET", "/admin/api/rooms", copied)
    assert poll.status == 401


async def test_logging_out_in_one_browser_leaves_the_others_logged_in(
        client: Client, another_browser: Callable[[], Awaitable[Client]]) -> None:
    token = await login(client)
    other = await another_browser()
    await login(other)
    await post(client, "/admin/logout", token)
    assert (await client.get("/admin", allow_redirects=False)).status == 302
    assert (await other.get("/admin", allow_redirects=False)).status == 200


async def test_logging_out_everywhere_ends_every_operator_session(
        client: Client, another_browser: Callable[[], Awaitable[Client]], thief: Thief,
        settings: Settings) -> None:
    token = await login(client)
    copied = cookie_of(client)
    other = await another_browser()
    await login(other)
    assert len(await operator_sessions(settings)) == 2

    resp = await post(client, "/admin/logout/everywhere", token)
    assert resp.status == 303
    assert resp.headers["Location"] == "/admin/login"
    assert "Logged out everywhere: 2 sessions ended." in await (await client.get("/admin/login")).text()

    for browser in (client, other):
        assert (await browser.get("/admin", allow_redirects=False)).status == 302
    assert (await thief("GET", "/admin", copied)).status == 302
    assert await operator_sessions(settings) == []
    entries, _ = await client.server.app[STORE].audit_entries(None, 10)
    assert entries[0].action == "logout_everywhere" and entries[0].detail == "2 sessions"


async def test_logging_out_everywhere_needs_the_operator_and_the_token(
        client: Client, another_browser: Callable[[], Awaitable[Client]]) -> None:
    other = await another_browser()
    await login(other)
    stranger_token = token_in(await (await client.get("/admin/login")).text())
    assert (await post(client, "/admin/logout/everywhere", stranger_token)).status == 403
    token = await login(client)
    assert (await post(client, "/admin/logout/everywhere", None)).status == 403
    assert (await post(client, "/admin/logout/everywhere", token,
                       headers={"Origin": "https://evil.example"})).status == 403
    assert (await other.get("/admin", allow_redirects=False)).status == 200


async def test_every_admin_page_offers_log_out_everywhere(client: Client) -> None:
    await login(client)
    for path in ("/admin", "/admin/rooms/lobby", "/admin/audit"):
        assert 'action="/admin/logout/everywhere"' in await (await client.get(path)).text(), path


# ---- logging in ----

async def test_logging_in_starts_a_new_session_so_a_planted_cookie_gains_nothing(
        client: Client, thief: Thief, settings: Settings) -> None:
    await client.get("/admin/login")
    planted = cookie_of(client)  # what an attacker could have put in the operator's browser
    assert "sid" not in cookie_contents(settings, planted)
    await login(client)
    first = cookie_of(client)
    assert (await thief("GET", "/admin", planted)).status == 302

    await login(client)  # logging in again, already logged in
    second = cookie_of(client)
    first_sid = cookie_contents(settings, first)["sid"]
    second_sid = cookie_contents(settings, second)["sid"]
    assert first_sid != second_sid
    assert (await thief("GET", "/admin", first)).status == 302
    assert (await thief("GET", "/admin", second)).status == 200
    assert len(await operator_sessions(settings)) == 1


async def test_the_database_holds_a_hash_of_the_session_id_never_the_id(
        client: Client, settings: Settings) -> None:
    await login(client)
    sid = cookie_contents(settings, cookie_of(client))["sid"]
    assert len(sid) >= 40  # 32 random bytes
    rows = await db_execute(settings.db, "SELECT * FROM sessions")
    assert len(rows) == 1
    assert rows[0][:3] == (hashlib.sha256(sid.encode()).hexdigest(), "operator", "")
    assert all(sid not in str(column) for column in rows[0])


# ---- expiry ----

async def test_a_session_unused_for_its_idle_time_has_ended(client: Client) -> None:
    clock = Clock(client)
    await login(client)
    clock.advance(SESSION_IDLE - dt.timedelta(seconds=1))
    assert (await client.get("/admin", allow_redirects=False)).status == 200
    clock.advance(SESSION_IDLE)
    assert (await client.get("/admin", allow_redirects=False)).status == 302


async def test_a_session_in_use_is_extended_but_never_past_its_lifetime(client: Client) -> None:
    clock = Clock(client)
    await login(client)
    step = SESSION_IDLE - dt.timedelta(days=1)
    used = dt.timedelta(0)
    while used + step < SESSION_LIFETIME:
        clock.advance(step)
        used += step
        resp = await client.get("/admin", allow_redirects=False)
        assert resp.status == 200, used
        assert COOKIE_NAME in resp.headers.get("Set-Cookie", "")  # the browser's copy lasts as long
    clock.advance(SESSION_LIFETIME - used)
    assert (await client.get("/admin", allow_redirects=False)).status == 302


async def test_expired_sessions_are_removed_at_the_next_login(
        client: Client, another_browser: Callable[[], Awaitable[Client]], settings: Settings) -> None:
    clock = Clock(client)
    await login(client)
    clock.advance(SESSION_IDLE + dt.timedelta(minutes=1))
    await login(await another_browser())
    assert len(await operator_sessions(settings)) == 1
