"""What one node changes, every node applies: moderation, edits and reactions, private rooms,
deactivation, and a lagging reader, each done on one node and seen on another.

Real PostgreSQL and chatapp processes (tests/cluster_harness.py); skipped saying why where
PostgreSQL is not installed, a failure under CI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from .admin_client import login as operator_login
from .admin_client import post
from .cluster_harness import ADMIN_PASSWORD, Browser, Cluster, need_engines, ordered_problems, session
from .member_client import sign_up, submit
from .pg import PostgresServer
from .rawws import FrameReader, raw_connect

pytestmark = pytest.mark.slow

BODY = "z" * 3990  # ~4 KB a message: a reader that stops falls behind quickly


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> PostgresServer:
    """The session's PostgreSQL server (tests/pg.py), once the engines are known to be here."""
    need_engines()
    server: PostgresServer = request.getfixturevalue("postgres")
    return server


@pytest.fixture
async def cluster(tmp_path: Path, pg: PostgresServer) -> AsyncIterator[Cluster]:
    url = pg.fresh_database()
    nodes = Cluster(tmp_path, url, nodes=2, env={"CHATAPP_SEND_QUEUE": "600"})
    await nodes.start()
    try:
        yield nodes
    finally:
        await nodes.stop()
        pg.drop_database(url)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with session() as s:
        yield s


async def _operator(cluster: Cluster) -> tuple[Browser, str]:
    """The operator, logged in on node 1; and the CSRF token of that session."""
    admin = Browser(session(), cluster[0])
    return admin, await operator_login(admin, ADMIN_PASSWORD)  # type: ignore[arg-type]


async def test_lock_clear_and_delete_on_one_node_reach_sockets_on_the_other(cluster: Cluster,
                                                                           http: aiohttp.ClientSession) -> None:
    admin, token = await _operator(cluster)
    try:
        there = Browser(http, cluster[1])
        watcher = await there.join("mod", "watcher", after=0)
        talker = await there.join("mod", "talker")
        for i in range(5):
            await talker.send(f"before {i}", f"b{i}")
        await watcher.wait(lambda r: len(r.chats) == 5, what="5 messages")

        assert (await post(admin, "/admin/rooms/mod/lock", token)).status == 303  # type: ignore[arg-type]
        await watcher.wait(lambda r: {"type": "room", "room": "mod", "locked": True} in r.frames, what="the lock")
        await talker.send("while locked", "locked-1")
        await talker.wait(lambda r: any(e.get("client_id") == "locked-1" for e in r.of_type("error")),
                          what="a refusal")
        assert [e["error"] for e in talker.of_type("error")] == ["room_locked"]

        assert (await post(admin, "/admin/rooms/mod/unlock", token)).status == 303  # type: ignore[arg-type]
        await watcher.wait(lambda r: {"type": "room", "room": "mod", "locked": False} in r.frames,
                           what="the unlock")
        await talker.send("after the unlock", "after-1")
        await watcher.wait(lambda r: len(r.chats) == 6, what="the message after the unlock")

        assert (await post(admin, "/admin/rooms/mod/clear", token)).status == 303  # type: ignore[arg-type]
        await watcher.wait(lambda r: bool(r.of_type("clear")), what="the clear")
        clear = watcher.of_type("clear")[0]
        assert clear["event_id"] > max(watcher.chat_ids)  # after every message it removed
        assert await cluster.rows("mod") == []

        assert (await post(admin, "/admin/rooms/mod/delete", token)).status == 303  # type: ignore[arg-type]
        assert await watcher.wait_closed() == 4000
        assert await talker.wait_closed() == 4000
    finally:
        await admin.http.close()


async def test_edits_and_reactions_made_on_one_node_arrive_on_the_other_in_log_order(
        cluster: Cluster, http: aiohttp.ClientSession) -> None:
    alice = Browser(http, cluster[0])
    await sign_up(alice, "alice")  # type: ignore[arg-type]
    watcher = await Browser(http, cluster[1]).join("talk", "watcher", after=0)
    mine = await alice.at(cluster[1]).join("talk")  # her login works on the other node too
    await mine.send("frist", "m1")
    await watcher.wait(lambda r: len(r.chats) == 1, what="her message")
    message_id = watcher.chats[0]["id"]
    assert watcher.chats[0]["user"] == "alice" and watcher.chats[0].get("member") is True
    await mine.ws.send_json({"type": "edit", "id": message_id, "message": "first"})
    await mine.ws.send_json({"type": "react", "id": message_id, "emoji": "👍"})
    await mine.send("second", "m2")
    await watcher.wait(lambda r: len(r.chats) == 2 and bool(r.of_type("reactions")), what="edit, reaction, chat")
    logged = [f for f in watcher.frames if f["type"] in ("chat", "edit", "reactions")]
    assert sorted(f["type"] for f in logged) == ["chat", "chat", "edit", "reactions"]
    places = [f["id"] if f["type"] == "chat" else f["event_id"] for f in logged]
    assert places == sorted(places)  # in log order, whichever the writer took first
    (edit,) = [f for f in logged if f["type"] == "edit"]
    (reactions,) = [f for f in logged if f["type"] == "reactions"]
    assert edit["message"] == "first" and reactions["reactions"][0]["users"] == ["alice"]
    # A page resuming on the first node is sent the same log, from the same place.
    resumed = await Browser(http, cluster[0]).join("talk", "late", after=message_id)
    await resumed.wait(lambda r: len(r.chats) == 1, what="the rest of the log")
    assert [f for f in resumed.frames if f["type"] in ("chat", "edit", "reactions")] == logged[1:]


async def test_a_member_removed_or_deactivated_on_one_node_is_closed_on_the_other(
        cluster: Cluster, http: aiohttp.ClientSession) -> None:
    one, two = cluster.nodes
    alice = Browser(http, one)
    await sign_up(alice, "alice")  # type: ignore[arg-type]
    async with session() as bobs:
        bob = Browser(bobs, one)
        await sign_up(bob, "bob")  # type: ignore[arg-type]
        response = await submit(alice, "/private/new", room="secret")  # type: ignore[arg-type]
        assert response.status == 303, await response.text()
        response = await submit(alice, "/rooms/secret/members", token_from="/rooms/secret",  # type: ignore[arg-type]
                                name="bob")
        assert response.status == 303
        in_secret = await bob.at(two).join("secret")
        in_lobby = await bob.at(two).join("lobby")
        await in_secret.wait(lambda r: bool(r.of_type("presence")), what="presence")
        response = await submit(alice, "/rooms/secret/members/remove", token_from="/rooms/secret",  # type: ignore[arg-type]
                                member_id="2")
        assert response.status == 303
        assert await in_secret.wait_closed() == 4003  # removed on node 1, closed on node 2
        assert not in_lobby.closed

        admin, token = await _operator(cluster)
        try:
            assert (await post(admin, "/admin/members/2/deactivate", token)).status == 303  # type: ignore[arg-type]
        finally:
            await admin.http.close()
        assert await in_lobby.wait_closed() == 4002


async def test_a_room_made_private_on_one_node_closes_the_public_sockets_on_the_other(
        cluster: Cluster, http: aiohttp.ClientSession) -> None:
    alice = Browser(http, cluster[0])
    await sign_up(alice, "alice")  # type: ignore[arg-type]
    guest = await Browser(http, cluster[1]).join("hideout", "guest")  # an empty public room, for now
    await guest.wait(lambda r: bool(r.of_type("presence")), what="presence")
    response = await submit(alice, "/private/new", room="hideout")  # type: ignore[arg-type]
    assert response.status == 303, await response.text()
    assert await guest.wait_closed() == 4003


async def test_a_reader_lagging_on_one_node_hears_where_to_resume_and_another_node_sends_the_rest(
        cluster: Cluster, http: aiohttp.ClientSession) -> None:
    one, two = cluster.nodes
    reader, writer, _ = await raw_connect("127.0.0.1", two.port, "/ws/lag?after=0&user=slow", rcvbuf=4096)
    slow = FrameReader(reader)
    await slow.read_until(lambda r: any(f.get("type") == "presence" for f in r.texts))
    talker = await Browser(http, one).join("lag", "talker")
    for i in range(1500):  # far more than node 2 may queue for a reader that takes nothing
        await talker.send(f"{i} {BODY}", f"t{i}")
    await talker.wait(lambda r: len(r.chats) == 1500, timeout=120, what="its 1,500 messages back")
    await slow.read_to_end(timeout=60)  # it reads again, too late
    writer.close()
    assert slow.close_code == 1008
    lagged = slow.texts[-1]
    assert lagged == {"type": "lagged", "resume_after": slow.chat_ids[-1]}
    rest = await Browser(http, one).join("lag", "slow", after=lagged["resume_after"])
    await rest.wait(lambda r: len(slow.chat_ids) + len(r.chats) == 1500, timeout=60, what="the rest")
    ids = [i for i, _ in await cluster.rows("lag")]
    assert slow.chat_ids + rest.chat_ids == ids
    assert ordered_problems(rest, ids[len(slow.chat_ids):]) == []


async def test_activity_stored_through_one_node_reaches_sidebars_on_the_other_and_only_its_audience(
        cluster: Cluster, http: aiohttp.ClientSession) -> None:
    one, two = cluster.nodes
    alice = Browser(http, one)
    await sign_up(alice, "alice")  # type: ignore[arg-type]
    async with session() as bobs, session() as carols:
        bob, carol = Browser(bobs, two), Browser(carols, two)
        for who, name in ((bob, "bob"), (carol, "carol")):
            await sign_up(who, name)  # type: ignore[arg-type]
            assert (await who.get("/rooms/general")).status == 200  # #general joins their sidebars
        response = await submit(alice, "/private/new", room="plans")  # type: ignore[arg-type]
        assert response.status == 303, await response.text()
        response = await submit(alice, "/rooms/plans/members", token_from="/rooms/plans",  # type: ignore[arg-type]
                                name="bob")
        assert response.status == 303
        assert (await alice.get("/dm/bob")).status == 200  # alice and bob's DM: dm-1-2
        bob_page = await bob.join("random", sidebar="1")
        carol_page = await carol.join("random", sidebar="1")
        for page in (bob_page, carol_page):
            await page.wait(lambda r: bool(r.of_type("sidebar")), what="the sidebar")

        # Stored through node 1, told on node 2: #general to both, the private room and the DM
        # to bob alone.
        await (await alice.join("plans")).send("the plan", "p1")
        await (await alice.join("dm-1-2")).send("just us", "d1")
        await (await alice.join("general")).send("hello", "g1")
        await bob_page.wait(lambda r: {a["room"] for a in r.of_type("activity")} == {"plans", "dm-1-2", "general"},
                            what="activity in #general, plans and the DM")
        # Node 2 has told of the private messages now; a later one in #general comes after them.
        await (await alice.join("general")).send("sentinel", "g2")
        await carol_page.wait(lambda r: len(r.of_type("activity")) == 2, what="activity in #general, twice")
        assert [a["room"] for a in carol_page.of_type("activity")] == ["general", "general"]
