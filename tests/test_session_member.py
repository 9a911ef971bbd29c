"""A member's session is read with the member in one query (on SQLite and PostgreSQL alike),
and the session cookie is decrypted once but still expires when the library would refuse it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatapp.keys import STORE
from chatapp.sessions import COOKIE_NAME, SESSION_IDLE, id_hash

from .admin_client import login

Client = TestClient[Any, Any]
NOW, LATER = "2030-01-01T12:00:00.000Z", "2030-01-08T12:00:00.000Z"


async def test_a_member_session_comes_with_its_member_and_other_sessions_with_none(client: Client) -> None:
    store = client.server.app[STORE]
    alice = await store.create_member("alice", "alice", "hash", NOW)
    assert alice is not None
    for sid, kind, subject in (("a", "member", str(alice.id)), ("op", "operator", ""),
                               ("gone", "member", "999"), ("odd", "member", f"{alice.id}x"),
                               ("padded", "member", f" {alice.id}"), ("empty", "member", "")):
        await store.create_session(id_hash(sid), kind, subject, NOW, LATER)

    found = await store.live_session_member(id_hash("a"), NOW)
    assert found is not None and found == (await store.live_session(id_hash("a"), NOW), alice)
    for sid in ("op", "gone", "odd", "padded", "empty"):  # a session, but no member with it
        found = await store.live_session_member(id_hash(sid), NOW)
        assert found is not None and found[1] is None, sid
        assert found[0] == await store.live_session(id_hash(sid), NOW)
    assert await store.live_session_member(id_hash("a"), LATER) is None  # expired
    assert await store.live_session_member(id_hash("never"), NOW) is None


async def test_a_remembered_cookie_still_expires(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    await login(client)
    for _ in range(2):  # decrypted, then remembered
        assert (await client.get("/admin", allow_redirects=False)).status == 200
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + SESSION_IDLE.total_seconds() + 60)
    assert (await client.get("/admin", allow_redirects=False)).status == 302


async def test_a_forged_cookie_is_refused_however_often_it_comes(client: Client, aiohttp_client: Any) -> None:
    await login(client)
    cookie = next(c.value for c in client.session.cookie_jar if c.key == COOKIE_NAME)
    assert (await client.get("/admin", allow_redirects=False)).status == 200
    forger: Client = await aiohttp_client(client.server)
    forged = cookie[:-8] + ("A" * 8 if not cookie.endswith("A" * 8) else "B" * 8)
    for _ in range(2):
        page = await forger.get("/admin", allow_redirects=False, headers={"Cookie": f"{COOKIE_NAME}={forged}"})
        assert page.status == 302
