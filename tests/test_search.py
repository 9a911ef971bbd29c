"""Full-text search through the real app: any language, accents, filters, hostile queries."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatapp import textnorm
from chatapp.formatting import render
from chatapp.keys import STORE, WRITER
from chatapp.search import MAX_QUERY
from chatapp.settings import Settings
from chatapp.storage.sqlite.connection import LANE_CONNECTIONS, LANE_WAITING
from chatapp.storage.sqlite.migrate import load_migrations, migrate

from .conftest import TIMEOUT, MakeClient, db_execute


async def post(client: TestClient[Any, Any], body: str, room: str = "lobby",
               user: str = "alice") -> int:
    """Store a message through the real writer, as the socket handler does."""
    stored = await client.app[WRITER].submit(room, user, body, None)
    return stored.message.id


async def search(client: TestClient[Any, Any], q: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/search", params={"q": q, **params})
    assert response.status == 200, await response.text()
    results: list[dict[str, Any]] = (await response.json())["results"]
    return results


def ids(results: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in results]


async def test_a_cjk_word_is_found_inside_a_sentence_without_spaces(client: TestClient[Any, Any]) -> None:
    tokyo = await post(client, "今天我们去东京塔看看")
    duck = await post(client, "我喜欢北京烤鸭")
    kana = await post(client, "東京でラーメンを食べました")
    hangul = await post(client, "서울에서 만나요")
    assert ids(await search(client, "东京")) == [tokyo]  # two characters: below trigram
    assert ids(await search(client, "东京塔")) == [tokyo]
    assert ids(await search(client, "北京烤鸭")) == [duck]
    assert ids(await search(client, "ラーメン")) == [kana]
    assert ids(await search(client, "서울")) == [hangul]
    assert ids(await search(client, "京")) == [kana, duck, tokyo]


async def test_cafe_finds_cafe_with_its_accent_and_accents_find_plain_text(client: TestClient[Any, Any]) -> None:
    accented = await post(client, "Un Café au lait, s'il vous plaît")
    shouting = await post(client, "CAFÉ CRÈME")
    plain = await post(client, "cafe racer")
    decomposed = await post(client, "cafe\u0301 typed with a combining accent")
    await post(client, "tea only")
    everyone = [decomposed, plain, shouting, accented]
    assert ids(await search(client, "cafe")) == everyone
    assert ids(await search(client, "CAFÉ")) == everyone
    assert ids(await search(client, "crème")) == [shouting]
    assert ids(await search(client, "plait")) == [accented]


async def test_other_latin_letters_fold_too(client: TestClient[Any, Any]) -> None:
    street = await post(client, "Ich wohne in der Hauptstraße")
    viet = await post(client, "Chào mừng đến Việt Nam")
    polish = await post(client, "Łódź jest duża")
    assert ids(await search(client, "hauptstrasse")) == [street]
    assert ids(await search(client, "viet nam")) == [viet]
    assert ids(await search(client, "den")) == [viet]
    assert ids(await search(client, "lodz")) == [polish]


async def test_search_ignores_case_in_any_script(client: TestClient[Any, Any]) -> None:
    latin = await post(client, "Hello There")
    cyrillic = await post(client, "Привет, мир")
    greek = await post(client, "Καλημέρα σας")
    assert ids(await search(client, "hello THERE")) == [latin]
    assert ids(await search(client, "ПРИВЕТ")) == [cyrillic]
    assert ids(await search(client, "καλημέρα")) == [greek]
    assert ids(await search(client, "he")) == [latin]  # the short path folds case too


async def test_results_carry_the_message_and_can_be_filtered_by_room_and_user(client: TestClient[Any, Any]) -> None:
    a = await post(client, "deploy at noon", room="ops", user="alice")
    b = await post(client, "deploy at five", room="ops", user="bob")
    c = await post(client, "deploy what?", room="random", user="alice")
    results = await search(client, "deploy")
    assert ids(results) == [c, b, a]
    assert set(results[0]) == {"id", "room", "user", "message", "html", "ts"}
    assert results[0]["message"] == "deploy what?" and results[0]["room"] == "random"
    assert results[0]["html"] == "<p>deploy what?</p>"
    assert ids(await search(client, "deploy", room="ops")) == [b, a]
    assert ids(await search(client, "deploy", room="OPS")) == [b, a]
    assert ids(await search(client, "deploy", user="alice")) == [c, a]
    assert ids(await search(client, "deploy", room="ops", user="alice")) == [a]
    assert ids(await search(client, "de", room="random")) == [c]
    assert await search(client, "deploy", room="nowhere") == []


async def test_results_are_newest_first_and_limited(client: TestClient[Any, Any]) -> None:
    posted = [await post(client, f"note number {i}") for i in range(30)]
    newest_first = list(reversed(posted))
    assert ids(await search(client, "note")) == newest_first
    assert ids(await search(client, "note", limit=5)) == newest_first[:5]
    assert ids(await search(client, "no", limit=3)) == newest_first[:3]
    assert len(await search(client, "note", limit=100000)) == 30


async def test_hostile_queries_never_cause_a_server_error(client: TestClient[Any, Any]) -> None:
    target = await post(client, 'he said "NEAR(a b)" AND * OR \'x\'; DROP TABLE messages; -- ok')
    hostile = [
        '"', '""', '"unbalanced', "'", "AND", "OR", "NOT", "a AND b", "NEAR(", "NEAR(a b)",
        "NEAR(a b, 2)", "*", "a*", "^start", "body_norm:x", "messages_fts", "{a b}: c",
        "(", ")", "()", "-x", "+", "a OR", "%", "_", "\\", "%_\\", "x' OR '1'='1",
        "'; DROP TABLE messages; --", "\x00", "a\x00b", "\x01\x02\x1f", "\x7f", "\t",
        "\n", "\u200b", "\u0301", "\ufeff", "🙂", "🙂🙂🙂", "x" * MAX_QUERY, "x" * 5000,
        "é" * 1200, " ", "", "NEAR(" * 300, '"' * 999, "A" * 3 + '"' + "B" * 3,
    ]
    for q in hostile:
        # Long ones go alone: thrice over they pass aiohttp's 8 KiB request-line limit.
        variants = [{"q": q}, {"q": q, "room": q, "user": q}, {"q": q, "limit": q}]
        for params in variants if len(q) < 400 else variants[:1]:
            response = await client.get("/api/search", params=params)
            assert response.status in (200, 400), (q[:20], response.status)
            assert response.content_type == "application/json"
            body = await response.json()
            assert "results" in body if response.status == 200 else "error" in body
        page = await client.get("/search", params={"q": q})
        assert page.status in (200, 400), (q[:20], page.status)
    for raw in ("q=%ED%A0%80", "q=%FF%FE", "q=%C3", "q=a&q=b", "limit=-1&q=abc", "q"):
        response = await client.get("/api/search?" + raw)
        assert response.status in (200, 400), raw
    assert ids(await search(client, '"NEAR(a b)" AND *')) == [target]
    assert ids(await search(client, "DROP TABLE messages;")) == [target]
    assert ids(await search(client, "'x'")) == [target]
    assert (await client.get("/api/search", params={"q": "x" * 5000})).status == 400
    assert (await client.get("/api/search", params={"q": "  "})).status == 400
    assert (await client.get("/api/search")).status == 400


async def test_a_deleted_message_never_shows_up(client: TestClient[Any, Any]) -> None:
    keep = await post(client, "secret plans, public part")
    gone = await post(client, "secret plans, private part")
    assert ids(await search(client, "secret plans")) == [gone, keep]
    # As the admin deletes.
    assert await client.app[STORE].delete_message("lobby", gone)
    assert ids(await search(client, "secret plans")) == [keep]
    assert ids(await search(client, "private")) == []
    assert ids(await search(client, "pr")) == []  # the short path reads the index too
    page = await client.get("/search", params={"q": "secret"})
    assert "private part" not in await page.text()


async def test_an_edited_message_is_found_by_its_new_text_only(
        client: TestClient[Any, Any], settings: Settings) -> None:
    mid = await post(client, "tpyo in here")
    await db_execute(settings.db, "UPDATE messages SET body = ? WHERE id = ?", "typo fixed", mid)
    assert ids(await search(client, "typo")) == [mid]
    assert ids(await search(client, "tpyo")) == []


@pytest.mark.sqlite_only(reason="the sqlite3 shell; test_postgres inserts by hand on PostgreSQL")
async def test_rows_written_by_a_plain_sqlite_connection_are_indexed(
        client: TestClient[Any, Any], settings: Settings) -> None:
    # The index is kept by triggers in plain SQL: an operator's sqlite3 shell or any
    # other tool keeps it right without registering anything.
    conn = sqlite3.connect(settings.db, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("INSERT INTO messages (room, user, body, ts) VALUES "
                     "('lobby', 'ops', 'Crème brûlée from the shell', '2024-01-01T00:00:00.000Z')")
        (mid,) = conn.execute("SELECT max(id) FROM messages").fetchone()
    finally:
        conn.close()
    assert ids(await search(client, "creme brulee")) == [mid]


@pytest.mark.sqlite_only(reason="reads the FTS5 table; test_postgres has the PostgreSQL twin")
async def test_the_index_folds_exactly_as_the_query_side_does(
        client: TestClient[Any, Any], settings: Settings) -> None:
    everything = " ".join(sorted(textnorm.FOLD))
    samples = [everything, "Zoë 😀 Ǆ ǅ ǆ 東京 \u00e9\u0301", "plain ascii", "ÀÉÎÕÜ" * 800]
    for body in samples:
        mid = await post(client, body)
        async with asyncio.timeout(TIMEOUT):  # indexed after the commit (storage/sqlite/indexer.py)
            while not (rows := await db_execute(settings.db, "SELECT body_norm FROM messages_fts WHERE rowid = ?",
                                                mid)):
                await asyncio.sleep(0.02)
        assert next(iter(rows))[0] == textnorm.fold(body)


@pytest.mark.sqlite_only(reason="runs SQLite's migrations one by one")
async def test_the_migration_indexes_messages_that_were_already_there(
        tmp_path: Path, make_client: MakeClient, settings: Settings) -> None:
    conn = sqlite3.connect(settings.db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        migrate(conn, [m for m in load_migrations() if m.version < 3])
        conn.executemany(
            "INSERT INTO messages (room, user, body, ts) VALUES (?, ?, ?, ?)",
            [("lobby", "old", f"before the upgrade, café {i}", "2023-05-01T10:00:00.000Z")
             for i in range(20)] + [("lobby", "old", "東京", "2023-05-01T10:00:01.000Z")],
        )
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'messages_fts'"
                            ).fetchone() == (0,)
    finally:
        conn.close()
    client = await make_client()
    assert len(await search(client, "cafe", limit=200)) == 20
    assert len(await search(client, "东京")) == 0
    assert len(await search(client, "東京")) == 1
    new = await post(client, "after the upgrade, café")
    assert ids(await search(client, "cafe", limit=1)) == [new]


async def test_the_search_page_highlights_matches_safely_and_links_to_the_message(client: TestClient[Any, Any]) -> None:
    mid = await post(client, '<script>alert(1)</script> a CAFÉ <b>bold</b> "quoted"', room="kitchen")
    page = await client.get("/search", params={"q": "cafe"})
    assert page.status == 200
    html = await page.text()
    assert "<mark>CAFÉ</mark>" in html
    assert "<script>alert" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f'href="/rooms/kitchen?at={mid}"' in html
    room = await client.get(f"/rooms/kitchen?at={mid}")
    assert re.search(rf'class="message highlight" data-id="{mid}"', await room.text())
    empty = await client.get("/search", params={"q": "nothing like this"})
    assert 'id="no-results"' in await empty.text()
    blank = await client.get("/search")
    assert blank.status == 200 and 'id="results"' not in await blank.text()
    bad = await client.get("/search", params={"q": "cafe", "room": "no such room!"})
    assert bad.status == 400 and "Room names" in await bad.text()


async def test_a_result_shows_the_message_formatted_as_in_the_room_with_matches_marked(
        client: TestClient[Any, Any]) -> None:
    body = "**Deploy** at noon, see https://example.com/deploy and `make deploy`"
    mid = await post(client, body, room="ops")
    html = await (await client.get("/search", params={"q": "deploy"})).text()
    assert "<strong><mark>Deploy</mark></strong>" in html
    assert "<code>make <mark>deploy</mark></code>" in html
    # The link keeps its address; only its text is marked.
    assert ('<a href="https://example.com/deploy" target="_blank" rel="noopener noreferrer nofollow ugc">'
            "https://example.com/<mark>deploy</mark></a>") in html
    # The result's own link holds its heading only: a link inside a link would break both.
    heading = html[html.index('<a class="result-link"'):]
    assert "<a " not in heading[2:heading.index("</a>")]
    assert f'href="/rooms/ops?at={mid}"' in heading
    [result] = await search(client, "deploy")
    assert result["message"] == body and result["html"] == render(body)
    assert "<mark>" not in result["html"]


async def test_every_page_has_a_search_box(client: TestClient[Any, Any]) -> None:
    for path in ("/", "/rooms/lobby", "/search", "/no/such/page"):
        html = await (await client.get(path)).text()
        form = re.search(r'<form class="topbar-search"[^>]*action="/search"[^>]*method="get"', html)
        assert form, path
        assert re.search(r'<input type="search" name="q"', html), path


# ---- bounded cost: the slow lane, the time budget, the per-address limit ----------------

async def test_a_room_page_answers_while_every_search_slot_is_taken(client: TestClient[Any, Any]) -> None:
    await post(client, "something to find")
    store = client.app[STORE]
    release = asyncio.Event()
    holding = 0
    all_held = asyncio.Event()

    async def hold_a_slot() -> None:
        nonlocal holding
        async with store._slow_lane():  # type: ignore[attr-defined]  # as a long search would
            holding += 1
            if holding == LANE_CONNECTIONS:
                all_held.set()
            await release.wait()

    holders = [asyncio.create_task(hold_a_slot()) for _ in range(LANE_CONNECTIONS + LANE_WAITING)]
    try:
        await asyncio.wait_for(all_held.wait(), TIMEOUT)
        refused = await client.get("/api/search", params={"q": "something"})
        assert refused.status == 503 and refused.headers["Retry-After"].isdigit()
        assert "error" in await refused.json()
        page = await client.get("/search", params={"q": "something"})
        assert page.status == 503 and "busy" in await page.text()
        room = await client.get("/rooms/lobby")
        assert room.status == 200 and "something to find" in await room.text()
        history = await client.get("/api/rooms/lobby/messages")
        assert history.status == 200
    finally:
        release.set()
        await asyncio.gather(*holders)
    assert ids(await search(client, "something")) != []


async def test_a_search_past_its_time_budget_is_stopped_with_a_clear_answer(client: TestClient[Any, Any]) -> None:
    writer = client.app[WRITER]
    await asyncio.gather(*(writer.submit("lobby", "alice", f"filler text {i}", None) for i in range(3000)))
    client.app[STORE].search_budget = 0.0  # type: ignore[attr-defined]  # every query is over budget
    response = await client.get("/api/search", params={"q": "zq"})  # the LIKE scan: many steps
    assert response.status == 400
    assert "too long" in (await response.json())["detail"]
    client.app[STORE].search_budget = 2.0  # type: ignore[attr-defined]
    assert await search(client, "zq") == []


async def test_one_address_searching_too_fast_is_told_to_wait(make_client: MakeClient) -> None:
    client = await make_client(search_rate=0.01, search_burst=3)
    for _ in range(3):
        assert (await client.get("/api/search", params={"q": "abc"})).status == 200
    refused = await client.get("/api/search", params={"q": "abc"})
    assert refused.status == 429 and refused.headers["Retry-After"].isdigit()
    assert "too fast" in (await refused.json())["detail"]


async def test_a_bots_message_is_marked_as_a_bots_in_search_as_in_the_room(client: TestClient[Any, Any]) -> None:
    writer = client.app[WRITER]
    await writer.submit("ops", "deploybot", "deploy finished", None, bot_id=1)
    await writer.submit("ops", "alice", "deploy looks fine", None)
    hits = (await (await client.get("/api/search", params={"q": "deploy"})).json())["results"]
    assert {h["user"]: h.get("bot", False) for h in hits} == {"deploybot": True, "alice": False}
    page = await (await client.get("/search", params={"q": "deploy"})).text()
    assert page.count('<span class="bot-badge">bot</span>') == 1
