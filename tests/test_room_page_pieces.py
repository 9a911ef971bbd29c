"""The room page put together from kept pieces and a kept skeleton (chatapp/fragments.py) is,
byte for byte and header for header, what its template renders from the same context: for
members and guests, private rooms and DMs, a locked room, an empty one, a highlighted
message, before and after a change, first rendered and kept."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from chatapp.fragments import FRAGMENTS, Fragments

from .admin_client import login
from .admin_client import post as admin_post
from .attention_client import members, post, until
from .conftest import recv_type
from .member_client import fresh_browser, submit

Client = Any


@pytest.fixture
def pages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Checks every page :meth:`Fragments.page` answers against the template rendered plainly
    from the same context (in the same request: the same viewer); lists the pages' texts."""
    answered: list[str] = []
    page = Fragments.page

    def checked(self: Fragments, request: web.Request, name: str, context: dict[str, Any]) -> web.Response:
        response = page(self, request, name, context)
        plain = web.Response()  # as aiohttp_jinja2.render_template makes it
        plain.content_type = "text/html"
        plain.charset = "utf-8"
        plain.text = self._env.get_template(name).render(context)
        assert response.body == plain.body
        assert dict(response.headers) == dict(plain.headers) and response.status == plain.status
        assert isinstance(response.body, bytes)
        answered.append(response.body.decode("utf-8"))
        return response

    monkeypatch.setattr(Fragments, "page", checked)
    return answered


async def _load(browser: Client, path: str, times: int = 2) -> str:
    for _ in range(times):  # the first time rendered, then from what was kept
        response = await browser.get(path)
        assert response.status == 200, await response.text()
        text: str = await response.text()
    return text


async def test_member_and_guest_room_pages_are_what_the_template_renders(
        client: Client, aiohttp_client: Any, pages: list[str]) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    guest = await fresh_browser(client, aiohttp_client)
    first = await post(alice, "lobby", "**bold** & <tags> 👍 `code`")
    ws = await bob.ws_connect("/ws/lobby")
    await ws.send_json({"message": "a reply", "client_id": "r1", "reply_to": first["id"]})
    await recv_type(ws, "chat")
    await ws.send_json({"type": "react", "id": first["id"], "emoji": "🎉"})
    await until(ws, "reactions", id=first["id"])
    await ws.close()
    await post(guest, "lobby", "a guest's words")
    await post(alice, "elsewhere", "news for the sidebar")

    for browser in (alice, bob, guest, alice):
        await _load(browser, "/rooms/lobby")
    await _load(alice, f"/rooms/lobby?at={first['id']}")
    await _load(guest, "/rooms/empty")
    await post(bob, "lobby", "news, after the pages were kept")
    assert "news, after the pages were kept" in await _load(alice, "/rooms/lobby")

    assert len(pages) == 14
    assert 0 < len(client.server.app[FRAGMENTS]._skeletons) < 14  # kept, and used again
    assert 'data-member-name="alice"' in pages[0] and 'data-member-name="bob"' in pages[2]
    assert "data-member-name" not in pages[4] and "No messages yet" in pages[11]


async def test_a_kept_page_follows_the_room_being_locked(client: Client, aiohttp_client: Any,
                                                         pages: list[str]) -> None:
    (alice,) = await members(client, aiohttp_client, "alice")
    await post(alice, "lobby", "before the lock")
    assert "locked-notice" not in (await _load(alice, "/rooms/lobby")).split("<template")[0]
    admin = await fresh_browser(client, aiohttp_client)
    token = await login(admin)
    assert (await admin_post(admin, "/admin/rooms/lobby/lock", token)).status == 303
    assert 'id="locked-notice"' in await _load(alice, "/rooms/lobby")


async def test_private_room_and_dm_pages_are_what_the_template_renders(
        client: Client, aiohttp_client: Any, pages: list[str]) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    response = await submit(alice, "/private/new", room="den")
    assert response.status == 303, await response.text()
    await post(alice, "den", "only for us")
    await _load(alice, "/rooms/den")
    await _load(alice, "/rooms/den?no_member=some%00one")  # a NUL of its own: rendered plainly
    opened = await alice.get("/dm/bob")
    assert opened.status == 200
    await _load(bob, "/rooms/dm-1-2")
    assert len(pages) == 7 and "only for us" in pages[0] and "some\x00one" in pages[3]
