"""Attention keeps private rooms and DMs to their members: a non-member, a guest and a removed
member never get activity, a mention, an unread count or a sidebar entry for one, whatever
their sidebar held before; a new DM and a newly added member hear of it at once."""

from __future__ import annotations

from typing import Any

from chatapp import moderation

from .attention_client import Client, members, mentions_recorded, open_page, post, sidebar, until
from .member_client import submit


async def _private(alice: Client, room: str, *names: str) -> None:
    response = await submit(alice, "/private/new", room=room)
    assert response.status == 303, await response.text()
    for name in names:
        response = await submit(alice, f"/rooms/{room}/members", token_from=f"/rooms/{room}", name=name)
        assert response.status == 303


async def _sentinel(alice: Client, watcher: Any) -> list[dict[str, Any]]:
    """Post in #lobby (which the watcher has in view) and return every attention frame the
    watcher got before that one's activity: what it was sent before, in order."""
    sent = await post(alice, "lobby", "sentinel")
    _, before = await until(watcher, "activity", id=sent["id"])
    return before


async def _in_view(browser: Client, room: str = "lobby") -> None:
    await (await browser.get(f"/rooms/{room}")).text()


async def test_a_non_member_never_hears_of_a_private_room_even_one_they_opened_as_a_free_name(
        client: Client, aiohttp_client: Any) -> None:
    alice, _bob, carol = await members(client, aiohttp_client, "alice", "bob", "carol")
    await _in_view(carol)
    await _in_view(carol, "plans")  # a free public name: it joins carol's sidebar
    ws = await open_page(carol, "random")  # open while "plans" is in her sidebar, public
    assert "plans" in await sidebar(ws)
    await _private(alice, "plans", "bob")
    secret = await post(alice, "plans", "@carol the plan is secret")
    before = await _sentinel(alice, ws)
    assert not [f for f in before if f.get("room") == "plans"], before
    await mentions_recorded(client)
    assert "the plan is secret" not in await (await carol.get("/mentions")).text()
    page = await (await carol.get("/rooms/random")).text()
    assert 'data-room="plans"' not in page and secret["id"]
    assert "plans" not in await sidebar(await open_page(carol, "random"))


async def test_a_guest_watching_a_private_room_or_dm_gets_what_a_nonexistent_room_gets(
        client: Client, aiohttp_client: Any) -> None:
    alice, _bob = await members(client, aiohttp_client, "alice", "bob")
    await _private(alice, "plans", "bob")
    await post(alice, "plans", "hidden")
    await (await alice.get("/dm/bob")).text()
    await post(alice, "dm-1-2", "hidden too")
    await post(alice, "lobby", "public")
    guest = await aiohttp_client(client.server)
    ws = await guest.ws_connect("/ws/random")
    await ws.send_json({"type": "watch", "rooms": {"plans": 0, "dm-1-2": 0, "lobby": 0, "never-used": 0}})
    watching, _ = await until(ws, "watching")
    assert watching["rooms"] == {"plans": {"unread": 0, "latest": 0}, "dm-1-2": {"unread": 0, "latest": 0},
                                 "never-used": {"unread": 0, "latest": 0},
                                 "lobby": {"unread": 1, "latest": watching["rooms"]["lobby"]["latest"]}}
    await post(alice, "plans", "still hidden")
    await post(alice, "dm-1-2", "still hidden")
    sent = await post(alice, "lobby", "public again")
    _, before = await until(ws, "activity", id=sent["id"])
    assert before == []


async def test_watch_refuses_bad_names_too_many_rooms_and_members(client: Client, aiohttp_client: Any) -> None:
    (alice,) = await members(client, aiohttp_client, "alice")
    guest = await aiohttp_client(client.server)
    ws = await guest.ws_connect("/ws/random")
    await ws.send_json({"type": "watch", "rooms": {"no spaces": 0}})
    assert (await until(ws, "error"))[0]["error"] == "invalid_room"
    await ws.send_json({"type": "watch", "rooms": {f"r{i}": 0 for i in range(51)}})
    assert (await until(ws, "error"))[0]["error"] == "too_many_rooms"
    member_ws = await alice.ws_connect("/ws/random")
    await member_ws.send_json({"type": "watch", "rooms": {"lobby": 0}})
    assert (await until(member_ws, "error"))[0]["error"] == "guests_only"
    await ws.send_json({"type": "read", "room": "lobby", "id": 1})
    assert (await until(ws, "error"))[0]["error"] == "members_only"


async def test_a_removed_member_loses_the_room_its_activity_and_its_mentions(
        client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    await _in_view(bob)
    await _private(alice, "plans", "bob")
    ws = await open_page(bob, "random")
    assert "plans" in await sidebar(ws)
    before_removal = await post(alice, "plans", "@bob you are still in")
    await until(ws, "activity", id=before_removal["id"], mention=True)
    response = await submit(alice, "/rooms/plans/members/remove", token_from="/rooms/plans", member_id="2")
    assert response.status == 303
    await post(alice, "plans", "@bob after you left")
    before = await _sentinel(alice, ws)
    assert not [f for f in before if f.get("room") == "plans"], before
    assert "plans" not in await sidebar(await open_page(bob, "random"))
    await mentions_recorded(client)
    mentions = await (await bob.get("/mentions")).text()
    assert "you are still in" not in mentions and "after you left" not in mentions


async def test_a_new_dm_reaches_the_other_members_open_page_and_nobody_else(
        client: Client, aiohttp_client: Any) -> None:
    alice, bob, carol = await members(client, aiohttp_client, "alice", "bob", "carol")
    await _in_view(bob)
    await _in_view(carol)
    bob_ws = await open_page(bob, "lobby")
    carol_ws = await open_page(carol, "random")
    await sidebar(bob_ws)
    await sidebar(carol_ws)
    await (await alice.get("/dm/bob")).text()
    sent = await post(alice, "dm-1-2", "psst, bob")
    activity, _ = await until(bob_ws, "activity", id=sent["id"])
    assert activity == {"type": "activity", "room": "dm-1-2", "id": sent["id"], "user": "alice", "mention": False,
                        "dm": True, "excerpt": "psst, bob"}
    before = await _sentinel(alice, carol_ws)
    assert not [f for f in before if f.get("room") == "dm-1-2"], before
    rooms = await sidebar(await open_page(bob, "random"))
    assert rooms["dm-1-2"]["other"] == "alice" and rooms["dm-1-2"]["unread"] == 1
    assert rooms["dm-1-2"]["level"] == "all"


async def test_a_member_added_to_a_private_room_hears_of_it_at_once(client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    await _private(alice, "plans")
    await post(alice, "plans", "before bob")
    ws = await open_page(bob, "random")
    await sidebar(ws)
    response = await submit(alice, "/rooms/plans/members", token_from="/rooms/plans", name="bob")
    assert response.status == 303
    sent = await post(alice, "plans", "welcome bob")
    activity, _ = await until(ws, "activity", id=sent["id"])
    assert activity["room"] == "plans"
    rooms = await sidebar(await open_page(bob, "random"))
    assert rooms["plans"]["unread"] == 1  # the history before he came is not news to him


async def test_an_admin_who_may_read_a_private_room_is_not_told_about_it(client: Client, aiohttp_client: Any,
                                                                           settings: Any) -> None:
    from .conftest import db_execute
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    await db_execute(settings.db, "UPDATE members SET role = 'admin' WHERE id = 2")
    await _private(alice, "plans")
    assert (await bob.get("/rooms/plans")).status == 200  # an admin may read it
    refused = await submit(bob, "/rooms/plans/notifications", token_from="/rooms/plans", level="all")
    assert refused.status == 404
    assert "plans" not in await sidebar(await open_page(bob, "random"))


async def test_a_deleted_room_vanishes_from_sidebars(client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    await _in_view(bob, "doomed")
    await post(alice, "doomed", "soon gone")
    assert "doomed" in await sidebar(await open_page(bob, "random"))
    await moderation.delete_room(client.server.app, "doomed")
    assert "doomed" not in await sidebar(await open_page(bob, "random"))
