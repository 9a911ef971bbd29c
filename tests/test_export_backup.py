"""Export, import and backup: over HTTP for the admin, and on the command line beside a live app."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatapp import cli
from chatapp.keys import WRITER
from chatapp.settings import Settings

from .conftest import TIMEOUT, MakeClient

PASSWORD = "correct horse battery staple"  # the settings fixture's
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def login(client: TestClient[Any, Any]) -> None:
    page = await client.get("/admin/login")
    match = _TOKEN.search(await page.text())
    assert match, "no csrf_token on the login page"
    response = await client.post("/admin/login", allow_redirects=False,
                                 data={"password": PASSWORD, "csrf_token": match.group(1)})
    assert response.status == 303, await response.text()


async def post_many(client: TestClient[Any, Any], room: str, n: int, prefix: str = "msg",
                    client_ids: bool = True) -> list[int]:
    """Store ``n`` messages through the real writer; their ids, in order."""
    writer = client.app[WRITER]
    futures = [writer.submit(room, f"user{i % 3}", f"{prefix} {i}", f"{prefix}-{i}" if client_ids else None)
               for i in range(n)]
    return [s.message.id for s in await asyncio.gather(*futures)]


async def run_cli(*argv: str) -> int:
    """The real command, in a thread, so the app keeps serving meanwhile."""
    return await asyncio.to_thread(cli.main, list(argv))


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


async def test_export_is_for_the_logged_in_admin_only(client: TestClient[Any, Any]) -> None:
    await post_many(client, "lobby", 3)
    response = await client.get("/api/rooms/lobby/export", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/admin/login?next=")
    assert "msg" not in await response.text()
    await login(client)
    response = await client.get("/api/rooms/lobby/export", allow_redirects=False)
    assert response.status == 200
    assert len((await response.text()).splitlines()) == 3


async def test_export_streams_the_whole_history_oldest_first_as_chat_frames(client: TestClient[Any, Any]) -> None:
    ids = await post_many(client, "big", 2345)  # more than two pages
    await post_many(client, "other", 5, prefix="elsewhere")
    await login(client)
    response = await client.get("/api/rooms/BIG/export")
    assert response.status == 200
    assert response.content_type == "application/x-ndjson"
    assert response.headers["Content-Disposition"] == 'attachment; filename="big.ndjson"'
    frames = [json.loads(line) for line in (await response.text()).splitlines()]
    assert [f["id"] for f in frames] == ids
    history = await (await client.get("/api/rooms/big/messages", params={"limit": 1})).json()
    assert frames[-1] == history["messages"][0]  # byte for byte the socket's frame
    assert set(frames[0]) == {"type", "id", "room", "user", "message", "ts", "client_id", "html"}
    assert all(f["room"] == "big" and f["type"] == "chat" for f in frames)
    assert (await client.get("/api/rooms/nowhere/export")).status == 404


@pytest.mark.sqlite_only(reason="imports into a second SQLite file; test_postgres has the PostgreSQL round trip")
async def test_cli_export_and_import_round_trip_beside_a_running_app(
        client: TestClient[Any, Any], settings: Settings, tmp_path: Path, make_client: MakeClient) -> None:
    ids = await post_many(client, "lobby", 1200)
    await post_many(client, "lobby", 3, prefix="no id", client_ids=False)
    exported = tmp_path / "lobby.ndjson"
    assert await run_cli("--db", settings.db, "export", "lobby", "--output", str(exported)) == 0
    frames = read_ndjson(exported)
    assert [f["id"] for f in frames[:1200]] == ids and len(frames) == 1203

    # Into a fresh database: everything arrives, in order, with its times kept.
    fresh = tmp_path / "fresh.db"
    assert await run_cli("import", str(exported), "--db", str(fresh)) == 0
    conn = sqlite3.connect(fresh)
    try:
        rows = conn.execute("SELECT room, user, body, ts, client_id FROM messages ORDER BY id").fetchall()
        room = conn.execute("SELECT message_count, last_message_at FROM rooms WHERE name = 'lobby'").fetchone()
    finally:
        conn.close()
    assert rows == [(f["room"], f["user"], f["message"], f["ts"], f["client_id"]) for f in frames]
    assert room == (1203, frames[-1]["ts"])

    # Into the live database: every message with a client_id is already there.
    assert await run_cli("--db", settings.db, "import", str(exported)) == 0
    history = await (await client.get("/api/rooms/lobby/messages", params={"limit": 200})).json()
    assert sum(m["client_id"] is None for m in history["messages"]) == 6
    hits = await (await client.get("/api/search", params={"q": "msg 1199"})).json()
    assert len(hits["results"]) == 1

    # And the fresh copy serves: history and search see the imported messages.
    other = await make_client(db=str(fresh))
    page = await (await other.get("/api/rooms/lobby/messages", params={"limit": 3})).json()
    assert [m["message"] for m in page["messages"]] == [f["message"] for f in frames[-3:]]
    found = await (await other.get("/api/search", params={"q": "msg 1199"})).json()
    assert [r["message"] for r in found["results"]] == ["msg 1199"]


async def test_cli_import_reports_what_it_did(settings: Settings, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.ndjson"
    frame = {"type": "chat", "id": 7, "room": "Lobby", "user": "zoë", "message": "hi",
             "ts": "2024-01-02T03:04:05.678Z", "client_id": "c1"}
    source.write_text(json.dumps(frame) + "\n\n" + json.dumps({**frame, "client_id": "c2"}) + "\n")
    assert await run_cli("--db", settings.db, "import", str(source)) == 0
    assert "imported 2 messages, skipped 0" in capsys.readouterr().out
    assert await run_cli("--db", settings.db, "import", str(source)) == 0
    assert "imported 0 messages, skipped 2" in capsys.readouterr().out


async def test_cli_import_of_a_bad_file_imports_nothing_and_says_which_line(
        settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = {"type": "chat", "room": "lobby", "user": "a", "message": "fine",
            "ts": "2024-01-02T03:04:05.678Z", "client_id": None}
    bad_lines = [
        "not json", "[1, 2]", json.dumps({**good, "type": "typing"}),
        json.dumps({**good, "room": "no spaces allowed"}), json.dumps({**good, "user": ""}),
        json.dumps({**good, "message": ""}), json.dumps({**good, "message": "x" * 4001}),
        json.dumps({**good, "message": "bell\u0007"}), json.dumps({**good, "ts": "yesterday"}),
        json.dumps({**good, "client_id": 5}),
    ]
    for bad in bad_lines:
        source = tmp_path / "bad.ndjson"
        source.write_text(json.dumps(good) + "\n" + bad + "\n")
        assert await run_cli("--db", settings.db, "import", str(source)) == 1, bad
        err = capsys.readouterr().err.strip()
        assert err.startswith("chatapp import: line 2:") and "\n" not in err, err
    assert not Path(settings.db).exists()  # checked before anything was opened
    assert await run_cli("--db", settings.db, "import", str(tmp_path / "missing.ndjson")) == 1


async def test_cli_export_writes_ndjson_to_stdout(client: TestClient[Any, Any], settings: Settings,
                                                  capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    await post_many(client, "lobby", 4)
    assert await run_cli("--db", settings.db, "export", "lobby") == 0
    captured = capsysbinary.readouterr()
    assert [json.loads(line)["message"] for line in captured.out.splitlines()] == [
        f"msg {i}" for i in range(4)]
    assert b"exported 4 messages" in captured.err
    assert await run_cli("--db", settings.db, "export", "nowhere") == 1
    assert capsysbinary.readouterr().err.strip() == b"chatapp export: there is no room named nowhere"


@pytest.mark.sqlite_only(reason="chatapp backup copies the SQLite file; PostgreSQL uses pg_dump")
async def test_backup_while_the_app_is_serving_and_writing_is_consistent(
        client: TestClient[Any, Any], settings: Settings, tmp_path: Path, make_client: MakeClient) -> None:
    await post_many(client, "lobby", 500)
    stop = asyncio.Event()

    async def keep_writing() -> int:
        n = 0
        while not stop.is_set():
            await post_many(client, "lobby", 20, prefix=f"live{n}")
            n += 1
        return n

    writing = asyncio.create_task(keep_writing())
    target = tmp_path / "backup.db"
    try:
        async with asyncio.timeout(TIMEOUT * 4):
            assert await run_cli("--db", settings.db, "backup", str(target)) == 0
    finally:
        stop.set()
        batches = await writing
    assert batches > 0  # the writer really was busy while the copy was made

    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        count, low, high = copy.execute("SELECT count(*), min(id), max(id) FROM messages").fetchone()
        (counted,) = copy.execute("SELECT message_count FROM rooms WHERE name = 'lobby'").fetchone()
        (indexed,) = copy.execute("SELECT count(*) FROM messages_fts").fetchone()
        (upto,) = copy.execute("SELECT upto FROM search_indexed").fetchone()
        (marked,) = copy.execute("SELECT count(*) FROM messages WHERE id <= ?", (upto,)).fetchone()
    finally:
        copy.close()
    # One committed state: no gaps (ids come in order), and the counters and index agree
    # (the index is filled after the commits, so it holds exactly the messages up to its mark).
    assert count == high - low + 1 >= 500
    assert counted == count
    assert indexed == marked and upto <= high
    assert not Path(str(target) + "-wal").exists()

    # Restoring is starting from the copy: it serves what it holds.
    restored = await make_client(db=str(target))
    page = await (await restored.get("/api/rooms/lobby/messages", params={"limit": 1})).json()
    assert page["messages"][0]["id"] == high


@pytest.mark.sqlite_only(reason="chatapp backup copies the SQLite file; PostgreSQL uses pg_dump")
async def test_backup_refuses_to_overwrite_unless_forced(client: TestClient[Any, Any], settings: Settings,
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await post_many(client, "lobby", 3)
    target = tmp_path / "backup.db"
    target.write_bytes(b"precious")
    assert await run_cli("--db", settings.db, "backup", str(target)) == 1
    assert "already exists; use --force" in capsys.readouterr().err
    assert target.read_bytes() == b"precious"
    assert await run_cli("--db", settings.db, "backup", str(target), "--force") == 0
    assert "3 messages, integrity ok" in capsys.readouterr().out
    assert target.read_bytes().startswith(b"SQLite format 3\x00")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_the_commands_fail_with_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.db")
    for argv in (["backup", str(tmp_path / "b.db")], ["export", "lobby"],
                 ["import", str(tmp_path / "none.ndjson")], ["export", "bad room!"]):
        done = subprocess.run([sys.executable, "-m", "chatapp", "--db", missing, *argv],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 1, (argv, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stdout == ""
    assert not Path(missing).exists()  # nothing created, no server started
