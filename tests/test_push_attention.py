"""Web Push end to end: a message is posted over a socket as people post, chatapp.attention
finds whom it concerns (mentions, DMs, room levels) and calls ``NOTIFY``, and the push
arrives, decrypted, at a local push service. What the push service does with it is
tests/test_push.py's; here it is who gets one for what was said."""

from __future__ import annotations

from typing import Any

import pytest

from chatapp.push import PUSH_NOTIFIER, sender

from .member_client import submit
from .push_service import PushService, start
from .test_push import people, said, subscribed


@pytest.fixture
async def service(aiohttp_server: Any) -> PushService:
    return await start(aiohttp_server)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sender, "BACKOFF", 0.01)


async def settled_and_nothing_else(browser: Any, service: PushService) -> None:
    await browser.server.app[PUSH_NOTIFIER].settled()
    assert service.taken() == []


async def test_a_mention_reaches_a_member_with_no_tab_open(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    keys = await subscribed(bob, service, "bob")
    message = await said(alice, "lobby", "@bob the build is green")
    got = keys.decrypt((await service.next()).body)
    assert got["title"] == "alice mentioned you in #lobby" and got["id"] == message.id
    assert got["body"] == "@bob the build is green"


async def test_only_the_mentioned_member_without_a_page_open_is_pushed(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, carol = await people(make_client, aiohttp_client)
    await subscribed(bob, service, "bob")
    await subscribed(carol, service, "carol")
    page = await bob.ws_connect("/ws/elsewhere")  # bob's page tells bob itself
    await said(alice, "lobby", "@bob @carol standup in five")
    assert (await service.next()).name == "carol"
    await settled_and_nothing_else(alice, service)
    await page.close()


async def test_a_direct_message_reaches_the_other_member(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    keys = await subscribed(bob, service, "bob")
    room = (await alice.get("/dm/bob", allow_redirects=False)).headers["Location"].removeprefix("/rooms/")
    message = await said(alice, room, "are you free at noon?")
    got = keys.decrypt((await service.next()).body)
    assert got["title"] == "alice (direct message)" and got["url"] == f"/rooms/{room}?at={message.id}"


async def test_a_mention_in_a_private_room_never_reaches_someone_not_in_it(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    keys = await subscribed(bob, service, "bob")
    assert (await submit(alice, "/private/new", room="plans")).status == 303
    await said(alice, "plans", "@bob must not hear of this")
    barrier = await said(alice, "lobby", "@bob but this one, yes")  # handled after the first
    assert keys.decrypt((await service.next()).body)["id"] == barrier.id
    await settled_and_nothing_else(alice, service)


async def test_a_room_set_to_all_messages_pushes_every_message_and_nothing_pushes_none(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    keys = await subscribed(bob, service, "bob")
    chose = await submit(bob, "/rooms/lobby/notifications", token_from="/rooms/lobby", level="all")
    assert chose.status in (200, 303), await chose.text()
    message = await said(alice, "lobby", "no mention at all")
    got = await service.next()
    assert keys.decrypt(got.body) == {"title": "alice in #lobby", "body": "no mention at all",
                                      "url": f"/rooms/lobby?at={message.id}", "room": "lobby",
                                      "id": message.id, "tag": "chatapp:lobby"}
    assert got.headers["Urgency"] == "normal"
    assert (await submit(bob, "/rooms/lobby/notifications", token_from="/rooms/lobby", level="nothing")).status \
        in (200, 303)
    await said(alice, "lobby", "@bob not even a mention now")
    barrier = await said(alice, "elsewhere", "@bob the default level elsewhere")
    assert keys.decrypt((await service.next()).body)["id"] == barrier.id
    await settled_and_nothing_else(alice, service)
