"""The PostgreSQL backend's own promises: the ordering point, migrations under the advisory
lock, search with accents folded, the start-up checks and the log-following interface.

These run in the PostgreSQL pass (``make test-postgres``, part of ``make test`` where
PostgreSQL is installed); elsewhere they are skipped saying why, and under CI a missing
PostgreSQL fails them. The rest of the suite runs on PostgreSQL in that pass too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatapp import cli, textnorm
from chatapp.models import Message, RoomEvent, utc_now_iso
from chatapp.storage import MigrationError, NewRow, StorageError, Unavailable, open_storage
from chatapp.storage.postgres import SHARDS, PostgresStorage, shard_of
from chatapp.storage.postgres.fold import function_sql
from chatapp.storage.postgres.migrate import postgres_migrations
from chatapp.storage.sqlite.migrate import load_migrations

from .pg import ON_POSTGRES, PostgresServer, pg_execute, require_postgres
from .server import free_port

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60.0

pytestmark = pytest.mark.skipif(
    not ON_POSTGRES, reason="PostgreSQL backend tests run in the PostgreSQL pass (make test-postgres)")


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    url = postgres.fresh_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture
def empty_url(postgres: PostgresServer) -> Iterator[str]:
    url = postgres.empty_database()
    yield url
    postgres.drop_database(url)


@contextlib.asynccontextmanager
async def opened(url: str, **kwargs: Any) -> AsyncIterator[PostgresStorage]:
    store = await PostgresStorage.open(url, **kwargs)
    try:
        yield store
    finally:
        await store.close()


def rooms_in(shards: set[int], per_shard: int) -> list[str]:
    """``per_shard`` room names in each of ``shards``."""
    found: dict[int, list[str]] = {s: [] for s in shards}
    i = 0
    while any(len(names) < per_shard for names in found.values()):
        name = f"room-{i}"
        if shard_of(name) in found and len(found[shard_of(name)]) < per_shard:
            found[shard_of(name)].append(name)
        i += 1
    return [name for names in found.values() for name in names]


# ---- the ordering point -----------------------------------------------------------------------

WRITERS = 8
BATCHES = 40  # per writer
SLOW = "slow"  # a message whose body starts so holds its transaction open a moment after its id


async def make_commits_late(url: str) -> None:
    """A trigger that sleeps inside the writer's transaction after a 'slow' row drew its id:
    the commit that reveals it comes well after later ids have been drawn, which is exactly
    the race the shard lock exists for (ids drawn, but committed out of order)."""
    await pg_execute(url, (
        "CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF NEW.body LIKE 'slow%' THEN PERFORM pg_sleep(0.01 + random() * 0.02); END IF; RETURN NULL; END $$"),
        ())
    await pg_execute(url, "CREATE TRIGGER test_slow_commit AFTER INSERT ON messages FOR EACH ROW "
                          "EXECUTE FUNCTION test_slow_commit()", ())


async def writer(url: str, number: int, rooms: list[str], shard_lock: bool) -> None:
    """One node's writes: batches of messages across rooms of the same shards, some slow to
    commit, and reactions (room events, from the same id sequence) on its own messages."""
    rng = random.Random(number)
    async with opened(url, shard_lock=shard_lock, pool_max=2) as store:
        for batch in range(BATCHES):
            picked = rng.sample(rooms, 3)
            body = SLOW if rng.random() < 0.3 else "quick"
            try:
                stored = await store.insert_messages([
                    NewRow(room, f"w{number}", f"{body} {batch}", utc_now_iso(), f"{number}-{batch}-{room}")
                    for room in picked])
                if batch % 4 == 0 and stored:
                    await store.set_reactions(stored[0].room, stored[0].id, '{"👍": ["w"]}', utc_now_iso())
            except StorageError:
                # Without the shard locks, writers of one room's row also deadlock now and
                # then (the locks order them); the batch is rolled back and the test goes on.
                if shard_lock:
                    raise


async def follow_while(store: PostgresStorage, cursors: dict[int, int], shards: list[int],
                       writing: asyncio.Future[Any]) -> dict[int, list[int]]:
    """Follow ``shards`` with log_after_shard from ``cursors`` until the writers are done
    (then once more): every id read, per shard, in the order read."""
    seen: dict[int, list[int]] = {s: [] for s in shards}
    done = False
    while not done:
        done = writing.done()  # one full pass after the last write committed
        for shard in shards:
            while True:
                rows = await store.log_after_shard(shard, cursors[shard], 50)
                if not rows:
                    break
                seen[shard].extend(r.id for r in rows)
                cursors[shard] = rows[-1].id
    return seen


async def table_ids(url: str, shards: list[int]) -> dict[int, list[int]]:
    rows = await pg_execute(url, "SELECT shard, id FROM messages WHERE shard = ANY(?::smallint[]) UNION ALL "
                                 "SELECT shard, id FROM room_events WHERE shard = ANY(?::smallint[]) ORDER BY 2",
                            (shards, shards))
    found: dict[int, list[int]] = {s: [] for s in shards}
    for shard, row_id in rows:
        found[int(shard)].append(int(row_id))
    return found


async def race(url: str, shard_lock: bool) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """Eight writers (eight storages, as eight nodes) and one follower; what it saw and the table."""
    shards = sorted(random.Random(7).sample(range(SHARDS), 2))
    rooms = rooms_in(set(shards), 4)
    async with asyncio.timeout(TIMEOUT), opened(url, pool_max=2) as follower:
        cursors = await follower.shard_heads()  # before the first write: the follower sees them all
        writing = asyncio.ensure_future(asyncio.gather(*(writer(url, n, rooms, shard_lock) for n in range(WRITERS))))
        try:
            seen = await follow_while(follower, cursors, shards, writing)
        finally:
            await writing
    return seen, await table_ids(url, shards)


async def test_a_follower_of_each_shard_sees_every_row_once_in_id_order_with_eight_writers(pg_url: str) -> None:
    await make_commits_late(pg_url)
    seen, table = await race(pg_url, shard_lock=True)
    for shard, ids in seen.items():
        assert ids == sorted(set(ids)), f"shard {shard}: out of order or twice"
        assert ids == table[shard], f"shard {shard}: skipped {sorted(set(table[shard]) - set(ids))[:10]}"
    assert sum(len(ids) for ids in table.values()) > WRITERS * BATCHES  # messages and reactions


async def test_without_the_shard_lock_the_same_follower_skips_rows(postgres: PostgresServer) -> None:
    # The test above can catch the bug it guards against: with the lock off (in the storage
    # and in the schema's trigger), rows that commit late are skipped. A run that happens to
    # skip nothing is tried again, on a fresh database, a few times.
    skipped: list[int] = []
    for _attempt in range(5):
        url = postgres.fresh_database()
        try:
            await make_commits_late(url)
            seen, table = await race(url, shard_lock=False)
        finally:
            postgres.drop_database(url)
        skipped = [i for shard in table for i in sorted(set(table[shard]) - set(seen[shard]))]
        if skipped:
            break
    assert skipped, "no row was skipped without the shard lock: the ordering test could not catch the bug"


async def test_ids_are_drawn_inside_the_lock_even_for_rows_inserted_by_hand(pg_url: str) -> None:
    # An operator's psql INSERT gets its shard and id from the schema's trigger, under the lock.
    await pg_execute(pg_url, 'INSERT INTO messages (room, "user", body, ts) VALUES (?, ?, ?, ?)',
                     ("lobby", "ops", "from psql", "2024-01-01T00:00:00.000Z"))
    rows = await pg_execute(pg_url, "SELECT id, shard FROM messages", ())
    assert [(int(r[1])) for r in rows] == [shard_of("lobby")]
    async with opened(pg_url) as store:
        assert [m.body for m in await store.log_after_shard(shard_of("lobby"), 0, 10)
                if isinstance(m, Message)] == ["from psql"]


async def test_log_after_shard_returns_messages_with_quotes_and_events_in_id_order(pg_url: str) -> None:
    async with opened(pg_url) as store:
        first, = await store.insert_messages([NewRow("lobby", "ann", "hello there", utc_now_iso(), "a")])
        reply, = await store.insert_messages([NewRow("lobby", "bob", "hi", utc_now_iso(), "b", reply_to=first.id)])
        edit = await store.edit_message("lobby", first.id, "hello, edited", utc_now_iso(), "<p>hello, edited</p>")
        assert edit is not None
        log = await store.log_after_shard(shard_of("lobby"), 0, 10)
        assert [x.id for x in log] == [first.id, reply.id, edit.id]
        assert isinstance(log[1], Message) and log[1].reply_user == "ann"
        assert isinstance(log[2], RoomEvent) and log[2].kind == "edit"
        assert await store.log_after_shard(shard_of("lobby"), first.id, 1) == [log[1]]
        heads = await store.shard_heads()
        assert set(heads) == set(range(SHARDS)) and heads[shard_of("lobby")] == edit.id


async def test_a_listener_hears_each_commit_and_listens_again_after_its_connection_drops(pg_url: str) -> None:
    heard: asyncio.Queue[int] = asyncio.Queue()
    async with opened(pg_url) as store, opened(pg_url) as other:
        await store.listen_log(heard.put_nowait)
        async with asyncio.timeout(TIMEOUT):
            await other.insert_messages([NewRow("lobby", "ann", "hi", utc_now_iso(), "1")])
            assert await heard.get() == shard_of("lobby")
            # The server ends the listening connection (a restart would): the storage listens
            # again, and wakes every shard, as notifications sent meanwhile are lost.
            await pg_execute(pg_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = current_database() AND query LIKE 'LISTEN%'", ())
            woken = {await heard.get() for _ in range(SHARDS)}
            assert woken == set(range(SHARDS))
            await other.insert_messages([NewRow("general", "ann", "again", utc_now_iso(), "2")])
            assert await heard.get() == shard_of("general")
        await store.unlisten_log()


# ---- start-up: migrations and checks -------------------------------------------------------------

async def test_two_nodes_opening_a_fresh_database_at_once_migrate_it_once(
        empty_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.storage.postgres.migrate")
    stores = await asyncio.gather(PostgresStorage.open(empty_url), PostgresStorage.open(empty_url))
    for store in stores:
        await store.close()
    applied = [r.getMessage() for r in caplog.records if r.getMessage().startswith("applying migration")]
    assert len(applied) == len(postgres_migrations())
    rows = await pg_execute(empty_url, "SELECT version FROM schema_migrations ORDER BY version", ())
    assert [r[0] for r in rows] == [m.version for m in postgres_migrations()]


async def test_a_sequence_that_caches_ids_is_refused_at_start(pg_url: str) -> None:
    await pg_execute(pg_url, "ALTER SEQUENCE log_ids CACHE 20", ())
    with pytest.raises(MigrationError, match="CACHE 1"):
        await PostgresStorage.open(pg_url)


async def test_a_database_from_a_newer_chatapp_is_refused(pg_url: str) -> None:
    await pg_execute(pg_url, "INSERT INTO schema_migrations VALUES (9999, '9999_future', 'x')", ())
    with pytest.raises(MigrationError, match="newer"):
        await PostgresStorage.open(pg_url)


def test_every_sqlite_feature_migration_has_its_postgresql_port() -> None:
    # 0001_initial.sql holds SQLite's 0001-0010; each later one is ported under its number.
    ported = {m.version: m.name for m in postgres_migrations()}
    missing = [m.name for m in load_migrations() if m.version > 10 and ported.get(m.version) != m.name]
    assert missing == [], f"port these to migrations/postgres/ under the same name: {missing}"


def test_the_schema_folds_and_shards_as_the_python_code_does() -> None:
    initial = (ROOT / "migrations" / "postgres" / "0001_initial.sql").read_text("utf-8")
    assert function_sql() in initial, "regenerate chatapp_fold from chatapp.storage.postgres.fold.function_sql()"
    assert f"generate_series(0, {SHARDS - 1})" in initial and f"% {SHARDS})::smallint" in initial


async def test_the_shard_formula_is_the_same_in_sql_and_python(pg_url: str) -> None:
    names = [f"room-{i}" for i in range(500)] + ["lobby", "dm-1-2", "a", "x" * 64]
    rows = await pg_execute(pg_url, "SELECT r, chatapp_shard(r) FROM unnest(?::text[]) AS r", (names,))
    assert {r[0]: int(r[1]) for r in rows} == {n: shard_of(n) for n in names}
    assert len({shard_of(n) for n in names}) == SHARDS


# ---- search ----------------------------------------------------------------------------------------

async def test_the_index_folds_exactly_as_the_query_side_does(pg_url: str) -> None:
    everything = " ".join(sorted(textnorm.FOLD))
    samples = [everything, "Zoë 😀 Ǆ ǅ ǆ 東京 \u00e9\u0301", "plain ascii", "ÀÉÎÕÜ" * 800]
    rows = await pg_execute(pg_url, "SELECT chatapp_fold(s), chatapp_search_text(s) FROM unnest(?::text[]) "
                                    "WITH ORDINALITY AS t(s, n) ORDER BY n", (samples,))
    assert [r[0] for r in rows] == [textnorm.fold(s) for s in samples]
    assert [r[1] for r in rows] == [textnorm.fold(s).lower() for s in samples]


async def test_search_finds_substrings_with_accents_and_case_folded_in_any_script(pg_url: str) -> None:
    async with opened(pg_url) as store:
        stored = await store.insert_messages([
            NewRow("lobby", "ann", "Crème BRÛLÉE for dessert", utc_now_iso(), "1"),
            NewRow("lobby", "bob", "東京タワーに行きました", utc_now_iso(), "2"),
            NewRow("lobby", "cat", "Привет, МИР", utc_now_iso(), "3"),
            NewRow("lobby", "dan", "100% sure_thing", utc_now_iso(), "4"),
        ])
        ids = [m.id for m in stored]

        async def found(query: str) -> list[int]:
            return [h.id for h in await store.search(textnorm.fold(query), None, None, 10)]
        assert await found("creme brulee") == [ids[0]]
        assert await found("rème brû") == [ids[0]]
        assert await found("ワーに") == [ids[1]]
        assert await found("мир") == [ids[2]]
        assert await found("0% s") == [ids[3]]
        assert await found("u_e") == []  # LIKE's _ is a character to find, not a wildcard ("ure")
        assert await found("e_t") == [ids[3]]
        assert await found("ô") == [ids[0]]  # the short path: one character ("for")
        assert await found("%") == [ids[3]]


async def test_search_leaves_out_private_rooms_inside_the_query(pg_url: str) -> None:
    async with opened(pg_url) as store:
        ann = await store.create_member("ann", "ann", "x", utc_now_iso())
        assert ann is not None
        await store.create_room("secret", "private", utc_now_iso(), [ann.id])
        await store.insert_messages([NewRow("secret", "ann", "hidden treasure", utc_now_iso(), "1")]
                                    + [NewRow("lobby", "bob", f"public treasure {i}", utc_now_iso(), f"p{i}")
                                       for i in range(3)])
        assert {h.room for h in await store.search("treasure", None, None, 3)} == {"lobby"}
        assert len(await store.search("treasure", None, None, 3)) == 3
        assert {h.room for h in await store.search("treasure", None, None, 10, viewer=ann.id)} == {"lobby", "secret"}
        assert {h.room for h in await store.search("treasure", None, None, 10, see_private=True)} == {"lobby",
                                                                                                      "secret"}


# ---- what PostgreSQL does not have ------------------------------------------------------------------

async def test_chatapp_backup_on_postgresql_is_one_line_pointing_at_pg_dump(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CHATAPP_DATABASE_URL", pg_url)
    assert await asyncio.to_thread(cli.main, ["backup", str(tmp_path / "copy.db")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pg_dump" in err
    assert not (tmp_path / "copy.db").exists()


async def test_export_and_import_move_a_room_between_postgresql_databases(
        postgres: PostgresServer, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = [NewRow("lobby", "ann", f"message {i}", f"2024-01-01T00:00:{i:02d}.000Z", f"c{i}") for i in range(30)]
    async with opened(pg_url) as store:
        await store.insert_messages(sent)
    exported = tmp_path / "lobby.ndjson"
    monkeypatch.setenv("CHATAPP_DATABASE_URL", pg_url)
    assert await asyncio.to_thread(cli.main, ["export", "lobby", "--output", str(exported)]) == 0
    other = postgres.fresh_database()
    try:
        monkeypatch.setenv("CHATAPP_DATABASE_URL", other)
        assert await asyncio.to_thread(cli.main, ["import", str(exported)]) == 0
        assert await asyncio.to_thread(cli.main, ["import", str(exported)]) == 0  # client ids: stored once
        async with opened(other) as store:
            got = await store.recent("lobby", 100)
            assert [(m.user, m.body, m.ts, m.client_id) for m in got] == [(r.user, r.body, r.ts, r.client_id)
                                                                          for r in sent]
            room = await store.room("lobby")
            assert room is not None and room.message_count == 30
            assert room.last_message_at == "2024-01-01T00:00:29.000Z"
    finally:
        postgres.drop_database(other)


async def test_open_storage_picks_postgresql_for_a_postgresql_url(pg_url: str) -> None:
    store = await open_storage(pg_url)
    try:
        assert isinstance(store, PostgresStorage)
        assert await store.size_bytes() > 0 and await store.free_bytes() is None
    finally:
        await store.close()


async def test_connections_the_server_ended_are_replaced_without_a_failed_write(pg_url: str) -> None:
    async with opened(pg_url, pool_max=2) as store:
        await store.ping()
        await pg_execute(pg_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()", ())
        stored = await store.insert_messages([NewRow("lobby", "ann", "kept", utc_now_iso(), "1")])
        assert [m.body for m in stored] == ["kept"]


async def test_a_server_that_is_down_is_unavailable_and_chat_resumes_when_it_returns() -> None:
    server = PostgresServer(require_postgres())  # its own: this test stops it
    try:
        await asyncio.to_thread(server.start)
        async with opened(server.url(), pool_max=2) as store:
            await store.insert_messages([NewRow("lobby", "ann", "before", utc_now_iso(), "1")])
            await asyncio.to_thread(server.stop)
            with pytest.raises(Unavailable):
                await store.insert_messages([NewRow("lobby", "ann", "during", utc_now_iso(), "2")])
            with pytest.raises(Unavailable):
                await store.recent("lobby", 10)
            await asyncio.to_thread(server.start)
            await store.insert_messages([NewRow("lobby", "ann", "after", utc_now_iso(), "3")])
            assert [m.body for m in await store.recent("lobby", 10)] == ["before", "after"]
    finally:
        await asyncio.to_thread(server.cleanup)


async def test_an_unreachable_server_is_unavailable_at_start(postgres: PostgresServer) -> None:
    with pytest.raises(Unavailable):
        await PostgresStorage.open(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
