"""Web Push through the real app, to a real local push service on a free port that decrypts
each push with the subscribing browser's own keys and checks the VAPID signature: who is
pushed to (levels, open sockets, private rooms, DMs, deactivated and logged-out members),
what the push says, and what the push service's answers do to a subscription.

``NOTIFY`` is called here directly, as chatapp.attention calls it after each published batch
with the members it found, so these messages mention nobody (an "@bob" would have attention
notify bob as well); tests/test_push_attention.py goes through that detection end to end.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from aiohttp import ClientResponse

from chatapp.keys import NOTIFY, SETTINGS, STORE
from chatapp.models import Message, utc_now_iso
from chatapp.push import PUSH_NOTIFIER, sender
from chatapp.push.sender import topic

from . import admin_client
from .conftest import db_execute, recv_chats, recv_type
from .member_client import Client, fresh_browser, sign_up, submit
from .push_service import Browser, PushService, start, vapid_claims

ALICE, BOB, CAROL = 1, 2, 3  # in the order they sign up


@pytest.fixture
async def service(aiohttp_server: Any) -> PushService:
    return await start(aiohttp_server)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sender, "BACKOFF", 0.01)


async def people(make_client: Any, aiohttp_client: Any, **overrides: Any) -> tuple[Client, Client, Client]:
    """alice, bob and carol: members, each logged in in a browser of their own."""
    alice: Client = await make_client(**{"push_allow_private": True, **overrides})
    bob, carol = [await fresh_browser(alice, aiohttp_client) for _ in range(2)]
    for browser, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        await sign_up(browser, name)
    return alice, bob, carol


async def push_token(browser: Client, room: str = "lobby") -> str:
    page = await (await browser.get(f"/rooms/{room}")).text()
    found = re.search(r'data-push-token="([^"]+)"', page)
    assert found, "no notifications control on the room page"
    return found.group(1)


async def subscribe(browser: Client, subscription: dict[str, Any]) -> ClientResponse:
    return await browser.post("/api/push/subscriptions", json=subscription,
                              headers={"X-CSRF-Token": await push_token(browser)})


async def subscribed(browser: Client, service: PushService, name: str) -> Browser:
    keys = Browser()
    response = await subscribe(browser, keys.subscription(service.url(name)))
    assert response.status == 201, await response.text()
    return keys


async def said(browser: Client, room: str, text: str) -> Message:
    """Post ``text`` over a socket of ``browser``'s, closed again; the message as stored."""
    ws = await browser.ws_connect(f"/ws/{room}")
    await ws.send_json({"message": text, "client_id": f"c{time.monotonic_ns()}"})
    (frame,) = await recv_chats(ws, 1)
    await ws.close()
    found = await browser.server.app[STORE].message(room, int(frame["id"]))
    assert found is not None
    return found


def notify(browser: Client, message: Message, member_ids: set[int], reason: str) -> None:
    browser.server.app[NOTIFY].notify(message.room, message, member_ids, reason)


async def nothing_pushed(browser: Client, service: PushService) -> None:
    """Every notification so far is handled and delivered, and none reached the service."""
    await browser.server.app[PUSH_NOTIFIER].settled()
    assert service.taken() == []


async def subscriptions_of(browser: Client, member_id: int) -> list[tuple[Any, ...]]:
    return await db_execute(browser.server.app[SETTINGS].db,
                            "SELECT endpoint, failures, last_success FROM push_subscriptions WHERE member_id = ?",
                            member_id)


async def test_a_mention_of_a_member_with_no_tab_open_is_pushed_encrypted_for_their_browser(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    keys = await subscribed(bob, service, "bob")
    message = await said(alice, "lobby", "have a look at **this** & that")
    before = int(time.time())
    notify(alice, message, {BOB}, "mention")
    got = await service.next()
    assert got.name == "bob"
    assert keys.decrypt(got.body) == {
        "title": "alice mentioned you in #lobby", "body": "have a look at this & that",
        "url": f"/rooms/lobby?at={message.id}", "room": "lobby", "id": message.id, "tag": "chatapp:lobby"}
    assert got.headers["Content-Encoding"] == "aes128gcm"
    assert got.headers["Urgency"] == "high" and got.headers["TTL"] == "86400"
    assert got.headers["Topic"] == topic("lobby") and len(got.headers["Topic"]) <= 32
    server_key = (await (await bob.get("/api/push/key")).json())["key"]
    claims = vapid_claims(got.headers["Authorization"], server_key)
    assert claims["aud"] == service.origin and claims["sub"] == "mailto:chatapp@localhost"
    assert before < claims["exp"] <= before + 24 * 3600 + 5
    await alice.server.app[PUSH_NOTIFIER].settled()
    ((_, failures, last_success),) = await subscriptions_of(alice, BOB)
    assert failures == 0 and last_success is not None


async def test_a_long_message_is_pushed_as_a_short_plain_excerpt(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    keys = await subscribed(bob, service, "bob")
    message = await said(alice, "lobby", "*look*:\n\n" + "word " * 100)
    notify(alice, message, {BOB}, "mention")
    body = keys.decrypt((await service.next()).body)["body"]
    assert len(body) == 200 and body.startswith("look: word word") and body.endswith("…")


async def test_nothing_is_pushed_while_the_member_has_a_socket_open_in_any_room(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    await subscribed(bob, service, "bob")
    ws = await bob.ws_connect("/ws/elsewhere")
    await recv_type(ws, "presence")  # bob's page is open: it shows its own notification
    notify(alice, await said(alice, "lobby", "bob, are you there?"), {BOB}, "mention")
    await nothing_pushed(alice, service)
    await ws.close()


async def test_each_of_a_members_browsers_gets_the_push_and_the_sender_gets_none(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    laptop = await subscribed(bob, service, "bob-laptop")
    phone_browser = await fresh_browser(bob, aiohttp_client)
    assert (await submit(phone_browser, "/login", name="bob", password="a long enough password")).status == 303
    phone = await subscribed(phone_browser, service, "bob-phone")
    await subscribed(alice, service, "alice")
    message = await said(alice, "lobby", "lunch, you two?")
    notify(alice, message, {BOB, ALICE}, "mention")  # alice wrote it: never told of her own message
    got = sorted([await service.next(), await service.next()], key=lambda r: r.name)
    assert [g.name for g in got] == ["bob-laptop", "bob-phone"]
    assert laptop.decrypt(got[0].body)["id"] == phone.decrypt(got[1].body)["id"] == message.id
    await nothing_pushed(alice, service)


@pytest.mark.parametrize(("level", "pushed"), [
    ("all", {"message", "mention", "here"}),
    ("mentions", {"mention", "here"}),
    ("nothing", set()),
])
async def test_the_members_level_for_the_room_decides_what_is_pushed(
        make_client: Any, aiohttp_client: Any, service: PushService, level: str, pushed: set[str]) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    keys = await subscribed(bob, service, "bob")
    await alice.server.app[STORE].set_notification_level(BOB, "lobby", level, utc_now_iso())
    for reason in ("message", "mention", "here"):
        message = await said(alice, "lobby", f"a {reason} for bob")
        notify(alice, message, {BOB}, reason)
        if reason in pushed:
            got = keys.decrypt((await service.next()).body)
            assert got["id"] == message.id
        await nothing_pushed(alice, service)


async def test_a_direct_message_is_pushed_to_the_other_member_only(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, carol = await people(make_client, aiohttp_client)
    keys = await subscribed(bob, service, "bob")
    await subscribed(carol, service, "carol")
    opened = await alice.get("/dm/bob", allow_redirects=False)
    room = opened.headers["Location"].removeprefix("/rooms/")
    message = await said(alice, room, "just between us")  # attention tells bob: a DM's level is "all"
    notify(alice, message, {CAROL}, "dm")  # carol is not in it, whatever a caller says
    got = await service.next()
    assert got.name == "bob"
    assert keys.decrypt(got.body) == {
        "title": "alice (direct message)", "body": "just between us", "url": f"/rooms/{room}?at={message.id}",
        "room": room, "id": message.id, "tag": f"chatapp:{room}"}
    await nothing_pushed(alice, service)


async def test_a_private_room_is_pushed_about_only_to_its_members(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    keys = await subscribed(bob, service, "bob")
    created = await submit(alice, "/private/new", room="plans")
    assert created.status == 303
    notify(alice, await said(alice, "plans", "bob, is not in here"), {BOB}, "mention")
    await nothing_pushed(alice, service)
    added = await submit(alice, "/rooms/plans/members", token_from="/rooms/plans", name="bob")
    assert added.status == 303
    message = await said(alice, "plans", "bob, now you are")
    notify(alice, message, {BOB}, "mention")
    assert keys.decrypt((await service.next()).body)["body"] == "bob, now you are"


async def test_a_deactivated_members_subscriptions_are_dropped_and_nothing_is_pushed(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    await subscribed(bob, service, "bob")
    message = await said(alice, "lobby", "bob, hello")
    operator = await fresh_browser(alice, aiohttp_client)
    token = await admin_client.login(operator)
    assert (await admin_client.post(operator, f"/admin/members/{BOB}/deactivate", token)).status == 303
    assert await subscriptions_of(alice, BOB) == []
    notify(alice, message, {BOB}, "mention")
    await nothing_pushed(alice, service)


async def test_logging_out_ends_that_browsers_subscription(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    await subscribed(bob, service, "bob")
    assert (await submit(bob, "/logout", token_from="/account")).status == 303
    assert await subscriptions_of(alice, BOB) == []
    notify(alice, await said(alice, "lobby", "bob, gone?"), {BOB}, "mention")
    await nothing_pushed(alice, service)


async def test_a_browser_that_logs_in_as_someone_else_takes_its_subscription_along(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    keys = Browser()
    shared = keys.subscription(service.url("shared"))
    assert (await subscribe(bob, shared)).status == 201
    assert (await submit(bob, "/logout", token_from="/account")).status == 303
    assert (await submit(bob, "/login", name="alice", password="a long enough password")).status == 303
    assert (await subscribe(bob, shared)).status == 201  # the page confirms it under the new login
    assert await subscriptions_of(alice, BOB) == [] and len(await subscriptions_of(alice, ALICE)) == 1
    notify(alice, await said(bob, "lobby", "bob, anyone?"), {BOB}, "mention")
    await nothing_pushed(alice, service)


async def test_410_from_the_push_service_deletes_the_subscription(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    await subscribed(bob, service, "bob")
    service.answers["bob"].append(410)
    notify(alice, await said(alice, "lobby", "bob, still there?"), {BOB}, "mention")
    assert (await service.next()).name == "bob"
    await alice.server.app[PUSH_NOTIFIER].settled()
    assert await subscriptions_of(alice, BOB) == []


async def test_a_push_service_that_fails_for_a_moment_is_tried_again(
        make_client: Any, aiohttp_client: Any, service: PushService) -> None:
    alice, bob, _ = await people(make_client, aiohttp_client)
    keys = await subscribed(bob, service, "bob")
    service.answers["bob"].extend([503, 429])
    message = await said(alice, "lobby", "bob, third time lucky")
    notify(alice, message, {BOB}, "mention")
    tries = [await service.next() for _ in range(3)]
    assert [keys.decrypt(t.body)["id"] for t in tries] == [message.id] * 3
    await alice.server.app[PUSH_NOTIFIER].settled()
    ((_, failures, last_success),) = await subscriptions_of(alice, BOB)
    assert failures == 0 and last_success is not None


async def test_a_subscription_whose_pushes_keep_failing_is_dropped(
        make_client: Any, aiohttp_client: Any, service: PushService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sender, "DROP_AFTER", 2)
    alice, bob, _ = await people(make_client, aiohttp_client)
    await subscribed(bob, service, "bob")
    service.answers["bob"].extend([400, 400])  # not tried again: the push service refuses it
    for n in range(2):
        notify(alice, await said(alice, "lobby", f"bob, try {n}"), {BOB}, "mention")
        assert (await service.next()).name == "bob"
        await alice.server.app[PUSH_NOTIFIER].settled()
        assert [row[1] for row in await subscriptions_of(alice, BOB)] == ([1] if n == 0 else [])
