"""Export and import of a room's history as NDJSON: one chat frame per line, oldest first.

Each line is exactly what the socket sends (:meth:`chatapp.models.Message.frame`), so an
export can be read by anything that speaks the protocol. The HTTP export streams page by
page (by id) from the read connection, for the logged-in operator only. The command-line
export and import open the database file with the standard ``sqlite3`` module and work
while the server runs: WAL lets them read beside it, and the import writes in short
transactions that wait (busy timeout) for the server's writer rather than fail.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from aiohttp import web

from . import auth, protocol
from .keys import STORE
from .models import Message
from .store import migrate_file
from .views import room_or_404

log = logging.getLogger(__name__)

PAGE = 1000  # messages read per query: memory stays flat however long the history
IMPORT_BATCH = 500  # rows per write transaction: the server's writer waits at most this long
BUSY_TIMEOUT_MS = 10_000

_COLUMNS = "id, room, user, body, ts, client_id"
_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


class ExportError(Exception):
    """A command-line export or import cannot go on; the message says why, in one line."""


def ndjson_line(message: Message) -> bytes:
    return orjson.dumps(message.frame()) + b"\n"


async def export_room(request: web.Request) -> web.StreamResponse:
    """``GET /api/rooms/{room}/export``: the room's whole history, streamed as NDJSON."""
    await auth.require_admin(request)
    room = room_or_404(request)
    store = request.app[STORE]
    if await store.room(room) is None:
        raise web.HTTPNotFound(text=f"There is no room named {room}.")
    response = web.StreamResponse(headers={
        "Content-Type": "application/x-ndjson; charset=utf-8",
        # Room names are letters, digits, - and _: safe in a header as they are.
        "Content-Disposition": f'attachment; filename="{room}.ndjson"',
        "Cache-Control": "no-store",
    })
    await response.prepare(request)
    after = 0
    while True:
        messages, more = await store.after(room, after, PAGE)
        if messages:
            await response.write(b"".join(ndjson_line(m) for m in messages))
            after = messages[-1].id
        if not more:
            break
    await response.write_eof()
    return response


def setup_export(app: web.Application) -> None:
    app.router.add_get("/api/rooms/{room}/export", export_room, name="export")


# The command line: plain sqlite3 on the database file.

def open_db(path: str, *, create: bool = False) -> sqlite3.Connection:
    if not create and not Path(path).is_file():
        raise ExportError(f"no database at {path}")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    return conn


def iter_room(conn: sqlite3.Connection, room: str) -> Iterator[Message]:
    """Every message of ``room``, oldest first, a page at a time."""
    after = 0
    while True:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE room = ? AND id > ? ORDER BY id LIMIT ?",
            (room, after, PAGE),
        ).fetchall()
        for r in rows:
            yield Message(int(r[0]), r[1], r[2], r[3], r[4], r[5])
        if len(rows) < PAGE:
            return
        after = int(rows[-1][0])


def export_to(db: str, room: str, out: IO[bytes]) -> int:
    """Write ``room``'s history to ``out`` as NDJSON; returns the number of messages."""
    name = protocol.normalise_room(room)
    if name is None:
        raise ExportError(f"not a room name: {room!r}")
    conn = open_db(db)
    try:
        if conn.execute("SELECT 1 FROM rooms WHERE name = ?", (name,)).fetchone() is None:
            raise ExportError(f"there is no room named {name}")
        count = 0
        for message in iter_room(conn, name):
            out.write(ndjson_line(message))
            count += 1
        out.flush()
        return count
    finally:
        conn.close()


@dataclass(frozen=True)
class Row:
    room: str
    user: str
    body: str
    ts: str
    client_id: str | None


@dataclass(frozen=True)
class ImportReport:
    imported: int
    skipped: int  # already there: same room and client_id

    def __str__(self) -> str:
        return f"imported {self.imported} messages, skipped {self.skipped} already present"


def parse_line(line: bytes, number: int) -> Row:
    """One NDJSON line as a row to insert, or ExportError naming the line and the problem."""
    def bad(why: str) -> ExportError:
        return ExportError(f"line {number}: {why}")
    try:
        frame: Any = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise bad("not valid JSON") from None
    if not isinstance(frame, dict) or frame.get("type") != "chat":
        raise bad('not a chat frame (an object with "type": "chat")')
    room = frame.get("room")
    name = protocol.normalise_room(room) if isinstance(room, str) else None
    if name is None:
        raise bad("room is not a valid room name")
    try:
        user = protocol.clean_user(frame.get("user"))
    except protocol.ProtocolError as exc:
        raise bad(f"user: {exc.detail}") from None
    try:
        # The same rules as the socket's, so an import never stores what chat would refuse.
        body = protocol.clean_message(frame.get("message"))
        client_id = protocol.clean_client_id(frame.get("client_id"))
    except protocol.ProtocolError as exc:
        raise bad(exc.detail) from None
    ts = frame.get("ts")
    if not isinstance(ts, str) or not _TS.match(ts):
        raise bad("ts must be an ISO 8601 UTC time like 2024-05-01T12:00:00.000Z")
    return Row(name, user, body, ts, client_id)


def _rows(path: Path) -> Iterator[Row]:
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                yield parse_line(line, number)


def import_from(db: str, path: str) -> ImportReport:
    """Insert the chat frames in ``path`` in file order, skipping (room, client_id) already there.

    The whole file is checked before anything is written, so a bad line imports nothing.
    Messages get new ids (the old ones may be taken); their ``ts`` is kept. A message
    without a client_id cannot be recognised, so importing one twice stores it twice.
    """
    source = Path(path)
    if not source.is_file():
        raise ExportError(f"no file at {path}")
    for _ in _rows(source):
        pass
    migrate_file(db)  # a fresh install can be seeded from an export
    conn = open_db(db)
    imported = skipped = 0
    try:
        batch: list[Row] = []
        for row in _rows(source):
            batch.append(row)
            if len(batch) >= IMPORT_BATCH:
                added = _insert(conn, batch)
                imported, skipped, batch = imported + added, skipped + len(batch) - added, []
        if batch:
            added = _insert(conn, batch)
            imported, skipped = imported + added, skipped + len(batch) - added
    finally:
        conn.close()
    return ImportReport(imported, skipped)


def _insert(conn: sqlite3.Connection, batch: list[Row]) -> int:
    # IMMEDIATE: take the write lock up front (waiting out the server's writer) rather
    # than fail halfway when a read transaction cannot be upgraded.
    rooms = sorted({r.room for r in batch})
    conn.execute("BEGIN IMMEDIATE")
    added = 0
    try:
        for r in batch:
            cursor = conn.execute(
                "INSERT INTO messages (room, user, body, ts, client_id) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (r.room, r.user, r.body, r.ts, r.client_id),
            )
            added += cursor.rowcount
        # The count trigger set last_message_at to the last row inserted, which for old
        # history is in the past: put back the newest time the room really has.
        conn.execute(
            "UPDATE rooms SET last_message_at = "
            "(SELECT max(ts) FROM messages WHERE messages.room = rooms.name) "
            f"WHERE name IN ({','.join('?' * len(rooms))})",
            rooms,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return added
