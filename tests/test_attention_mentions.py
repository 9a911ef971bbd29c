"""Mentions through the real app: @name and @"Full Name" resolved once per message and stored
one write per batch, counted apart from unread, highlighted in every rendering, @here
rate-limited, the Mentions list, and whom ``NOTIFY`` is asked to tell (levels included)."""

from __future__ import annotations

import json
import re
from typing import Any

from chatapp.accounts.names import MemberNames, fold
from chatapp.attention import ATTENTION
from chatapp.attention.mentions import named_members
from chatapp.formatting import mention_names, render
from chatapp.settings import Settings

from .attention_client import Client, members, mentions_recorded, notified_client, open_page, post, say, sidebar, until
from .conftest import MakeClient, recv_chats
from .member_client import submit


def test_mentions_are_highlighted_by_the_one_renderer() -> None:
    assert render("hi @bob!") == '<p>hi <span class="mention">@bob</span>!</p>'
    assert render('ping @"Mary Ann" please') == '<p>ping <span class="mention">@"Mary Ann"</span> please</p>'
    assert "mention" not in render("write to bob@example.com")  # an address, not a mention
    assert "mention" not in render("`@bob` in code")
    assert render("@here") == '<p><span class="mention">@here</span></p>'
    assert mention_names('@bob, @"Mary Ann" and `@carol` @bob.') == ["bob", "Mary Ann", "bob"]


def test_names_resolve_folded_with_underscores_for_spaces() -> None:
    names = MemberNames()
    names.load([(1, fold("Mary Ann")), (2, fold("bob")), (3, fold("dev_ops"))])
    keys, here = named_members("@MARY_ANN @Bob @dev_ops @nobody @here", names)
    assert keys == [fold("Mary Ann"), fold("bob"), fold("dev_ops")] and here
    assert named_members("no mention at all", names) == ([], False)


async def test_a_mention_is_counted_apart_from_unread_and_sent_as_a_mention(
        client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    await (await bob.get("/rooms/general")).text()
    ws = await open_page(bob, "random")
    await sidebar(ws)
    sent = await post(alice, "general", "@bob have a look")
    plain, _ = await until(ws, "activity", id=sent["id"])
    mention, _ = await until(ws, "activity", id=sent["id"], mention=True)
    assert plain["mention"] is False
    assert mention == {"type": "activity", "room": "general", "id": sent["id"], "user": "alice",
                       "mention": True, "excerpt": "@bob have a look"}
    await post(alice, "general", "no mention here")
    later = await open_page(bob, "random")
    rooms = await sidebar(later)
    assert (rooms["general"]["unread"], rooms["general"]["mentions"]) == (2, 1)


async def test_a_batch_of_mentions_is_one_write(client: Client, aiohttp_client: Any) -> None:
    alice, _bob, _carol = await members(client, aiohttp_client, "alice", "bob", "carol")
    attention = client.server.app[ATTENTION]
    ws = await alice.ws_connect("/ws/general")
    before = attention.recorder.writes
    # Sent back to back, they are stored as one batch (the writer takes what queued meanwhile).
    for i, text in enumerate(["@bob one", "@carol two", "@bob @carol three", "@nobody four", "plain five"]):
        await ws.send_str(json.dumps({"message": text, "client_id": f"b{i}"}))
    await recv_chats(ws, 5)
    await mentions_recorded(client)
    assert 1 <= attention.recorder.writes - before <= 2  # one per batch the writer made
    page = await (await alice.get("/mentions")).text()
    assert "Nobody has mentioned you yet" in page


async def test_a_mention_of_oneself_or_a_guest_name_counts_for_nobody(client: Client, aiohttp_client: Any) -> None:
    alice, _bob = await members(client, aiohttp_client, "alice", "bob")
    await post(alice, "general", "@alice talking to myself, @somebody else")
    await mentions_recorded(client)
    assert "Nobody has mentioned you yet" in await (await alice.get("/mentions")).text()


async def test_the_mentions_page_lists_mentions_newest_first_paged_by_id(
        client: Client, aiohttp_client: Any) -> None:
    alice, bob = await members(client, aiohttp_client, "alice", "bob")
    ids = [(await post(alice, "general" if i % 2 else "random", f"@bob number {i}"))["id"] for i in range(35)]
    await mentions_recorded(client)
    first = await (await bob.get("/mentions")).text()
    listed = [int(x) for x in re.findall(r'<li class="result mention-result" data-id="(\d+)"', first)]
    assert listed == sorted(ids, reverse=True)[:30]
    assert '<span class="mention">@bob</span>' in first
    older = re.search(r'id="older-mentions" class="more" href="([^"]+)"', first)
    assert older is not None
    rest = await (await bob.get(older.group(1).replace("&amp;", "&"))).text()
    assert [int(x) for x in re.findall(r'data-id="(\d+)"', rest)] == sorted(ids, reverse=True)[30:]
    assert f"/rooms/general?at={ids[1]}#m{ids[1]}" in rest


async def test_a_guest_is_sent_to_log_in_for_the_mentions_page(make_client: MakeClient) -> None:
    guest = await make_client()
    response = await guest.get("/mentions", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"].startswith("/login")


async def test_here_reaches_the_members_present_and_is_limited_per_sender(
        aiohttp_client: Any, settings: Settings) -> None:
    client, notifier = await notified_client(aiohttp_client, settings, here_interval=3600)
    alice, bob, _carol = await members(client, aiohttp_client, "alice", "bob", "carol")
    bob_here = await open_page(bob, "general")
    await sidebar(bob_here)
    bob_elsewhere = await open_page(bob, "random")
    await sidebar(bob_elsewhere)
    alice_ws = await alice.ws_connect("/ws/general")
    first = await say(alice_ws, "@here standup in 5")
    mention, _ = await until(bob_elsewhere, "activity", id=first["id"], mention=True)
    assert mention["room"] == "general"
    await mentions_recorded(client)
    assert notifier.about(first["id"]) == {"here": frozenset({2})}  # carol is not in the room
    second = await say(alice_ws, "@here again?")  # within the interval: shown, but reaches nobody
    third = await say(alice_ws, "@bob then")
    _frame, before = await until(bob_elsewhere, "activity", id=third["id"], mention=True)
    assert not [f for f in before if f.get("id") == second["id"] and f.get("mention")]
    assert "here" not in notifier.about(second["id"])


async def test_guests_cannot_here(client: Client, aiohttp_client: Any) -> None:
    (bob,) = await members(client, aiohttp_client, "bob")
    guest = await aiohttp_client(client.server)
    ws = await open_page(bob, "random")
    await sidebar(ws)
    await (await bob.get("/rooms/general")).text()
    there = await open_page(bob, "general")
    await sidebar(there)
    sent = await post(guest, "general", "@here hello members")
    marker = await post(guest, "general", "@bob and you")
    _frame, before = await until(ws, "activity", id=marker["id"], mention=True)
    assert not [f for f in before if f.get("id") == sent["id"] and f.get("mention")]


async def test_notify_is_told_about_mentions_dms_and_members_who_chose_all(
        aiohttp_client: Any, settings: Settings) -> None:
    client, notifier = await notified_client(aiohttp_client, settings)
    alice, bob, carol = await members(client, aiohttp_client, "alice", "bob", "carol")
    # carol wants every message of #general; bob wants nothing from it.
    for browser, level in ((carol, "all"), (bob, "nothing")):
        response = await submit(browser, "/rooms/general/notifications", token_from="/rooms/general", level=level)
        assert response.status == 303
    plain = await post(alice, "general", "plain")
    named = await post(alice, "general", "@bob and @carol")
    await mentions_recorded(client)
    assert notifier.about(plain["id"]) == {"message": frozenset({3})}
    assert notifier.about(named["id"]) == {"mention": frozenset({3})}  # bob chose nothing
    # A DM: the other member, by default; a mention in it is still the DM.
    dm = await (await alice.get("/dm/bob", allow_redirects=False)).text()
    assert dm is not None
    hello = await post(alice, "dm-1-2", "psst")
    named_in_dm = await post(alice, "dm-1-2", "@bob psst")
    await mentions_recorded(client)
    assert notifier.about(hello["id"]) == {"dm": frozenset({2})}
    assert notifier.about(named_in_dm["id"]) == {"dm": frozenset({2})}
    # Mentions only, in the DM: plain DM messages stop, mentions go on.
    response = await submit(bob, "/rooms/dm-1-2/notifications", token_from="/rooms/dm-1-2", level="mentions")
    assert response.status == 303
    quiet = await post(alice, "dm-1-2", "quiet")
    loud = await post(alice, "dm-1-2", "@bob loud")
    await mentions_recorded(client)
    assert notifier.about(quiet["id"]) == {} and notifier.about(loud["id"]) == {"mention": frozenset({2})}


async def test_a_level_is_set_by_script_with_the_csrf_header(client: Client, aiohttp_client: Any) -> None:
    _alice, bob = await members(client, aiohttp_client, "alice", "bob")
    page = await (await bob.get("/rooms/general")).text()
    token = re.search(r'data-token="([^"]+)"', page)
    assert token is not None
    answer = await bob.post("/rooms/general/notifications", data={"level": "all"},
                            headers={"X-CSRF-Token": token.group(1)})
    assert answer.status == 200 and await answer.json() == {"room": "general", "level": "all", "chosen": True}
    bad = await bob.post("/rooms/general/notifications", data={"level": "loud"},
                         headers={"X-CSRF-Token": token.group(1)})
    assert bad.status == 400
    forged = await bob.post("/rooms/general/notifications", data={"level": "all"})
    assert forged.status == 403
    rooms = await sidebar(await open_page(bob, "random"))
    assert rooms["general"]["level"] == "all"
    back = await bob.post("/rooms/general/notifications", data={"level": "default"},
                          headers={"X-CSRF-Token": token.group(1)})
    assert (await back.json())["level"] == "mentions"


async def test_a_public_room_can_leave_the_sidebar(client: Client, aiohttp_client: Any) -> None:
    (bob,) = await members(client, aiohttp_client, "bob")
    await (await bob.get("/rooms/general")).text()
    response = await submit(bob, "/rooms/general/sidebar/leave", token_from="/rooms/random")
    assert response.status == 303
    rooms = await sidebar(await open_page(bob, "random"))
    assert "general" not in rooms and "random" in rooms


async def test_everyone_sees_the_mention_highlighted_in_history_and_live(client: Client, aiohttp_client: Any) -> None:
    alice, _bob = await members(client, aiohttp_client, "alice", "bob")
    guest = await aiohttp_client(client.server)
    watching = await guest.ws_connect("/ws/general")
    await post(alice, "general", "hello @bob")
    (live,) = await recv_chats(watching, 1)
    assert '<span class="mention">@bob</span>' in live["html"]
    page = await (await guest.get("/rooms/general")).text()
    assert '<span class="mention">@bob</span>' in page
