"""Moving history in and out: NDJSON export and import of a room, and the online backup.

An export is one chat frame per line, oldest first, exactly what the socket sends
(:meth:`chatapp.models.Message.frame`), so anything that speaks the protocol can read it.
The HTTP export streams page by page for the logged-in operator; the command-line
``export``, ``import`` and ``backup`` open the database through :mod:`chatapp.storage` on
their own and work beside a running server (WAL lets them read; the import writes in
short transactions that wait for the server's writer rather than fail). An import is
checked whole before anything is written: every line a chat frame the socket would have
accepted, every ``ts`` a real instant, every line of bounded length.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from aiohttp import web

from . import protocol
from .admin import require_operator
from .keys import STORE
from .models import Message
from .privacy import operator_room_or_404
from .storage import BackupReport, Busy, NewRow, Storage, StorageError, TooSlow, open_storage, utc_instant

log = logging.getLogger(__name__)

IMPORT_BATCH = 500  # rows per write transaction: the server's writer waits at most this long
BUSY_TIMEOUT_MS = 10_000
# The longest line a valid export can have: a 4,000-character message written as JSON
# escapes is 48 KB. Longer lines are refused without being read whole.
MAX_LINE = 128 * 1024


class ExportError(Exception):
    """A command-line export or import cannot go on; the message says why, in one line."""


def ndjson_line(message: Message) -> bytes:
    return orjson.dumps(message.frame()) + b"\n"


async def export_room(request: web.Request) -> web.StreamResponse:
    """``GET /api/rooms/{room}/export``: the room's whole history, streamed as NDJSON."""
    await require_operator(request)
    room = operator_room_or_404(request)
    store = request.app[STORE]
    if await store.room(room) is None:
        raise web.HTTPNotFound(text=f"There is no room named {room}.")
    pages = store.export(room)
    try:
        first = await anext(pages, None)
    except (Busy, TooSlow):
        raise web.HTTPServiceUnavailable(text="Too many exports and searches are running; try again shortly.",
                                         headers={"Retry-After": "5"}) from None
    response = web.StreamResponse(headers={
        "Content-Type": "application/x-ndjson; charset=utf-8",
        # Room names are letters, digits, - and _: safe in a header as they are.
        "Content-Disposition": f'attachment; filename="{room}.ndjson"',
        "Cache-Control": "no-store",
    })
    await response.prepare(request)
    try:
        if first is not None:
            await response.write(b"".join(ndjson_line(m) for m in first))
            async for messages in pages:
                await response.write(b"".join(ndjson_line(m) for m in messages))
    finally:
        await pages.aclose()  # gives the slow-lane connection back, however the stream ended
    await response.write_eof()
    return response


# The command line: a storage of its own, beside the server's.

async def _open(db: str, create: bool = False) -> Storage:
    try:
        return await open_storage(db, busy_timeout_ms=BUSY_TIMEOUT_MS, create=create)
    except StorageError as exc:
        raise ExportError(str(exc)) from None


def export_to(db: str, room: str, out: IO[bytes]) -> int:
    """Write ``room``'s history to ``out`` as NDJSON; returns the number of messages."""
    name = protocol.normalise_room(room)
    if name is None:
        raise ExportError(f"not a room name: {room!r}")
    return asyncio.run(_export(db, name, out))


async def _export(db: str, room: str, out: IO[bytes]) -> int:
    store = await _open(db)
    try:
        if await store.room(room) is None:
            raise ExportError(f"there is no room named {room}")
        count = 0
        async for messages in store.export(room):
            out.write(b"".join(ndjson_line(m) for m in messages))
            count += len(messages)
        out.flush()
        return count
    finally:
        await store.close()


def backup(db: str, dest: str, *, force: bool = False) -> BackupReport:
    """A consistent, checked copy of the live database at ``dest``."""
    return asyncio.run(_backup(db, Path(dest), force))


async def _backup(db: str, dest: Path, force: bool) -> BackupReport:
    store = await _open(db)
    try:
        return await store.backup(dest, force=force)
    finally:
        await store.close()


@dataclass(frozen=True)
class ImportReport:
    imported: int
    skipped: int  # already there: same room and client_id

    def __str__(self) -> str:
        return f"imported {self.imported} messages, skipped {self.skipped} already present"


def parse_line(line: bytes, number: int) -> NewRow:
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
    raw_ts = frame.get("ts")
    ts = utc_instant(raw_ts) if isinstance(raw_ts, str) else None
    if ts is None:
        raise bad("ts must be a real UTC time like 2024-05-01T12:00:00.000Z")
    return NewRow(name, user, body, ts, client_id)


def _rows(path: Path) -> Iterator[NewRow]:
    with path.open("rb") as f:
        number = 0
        while True:
            line = f.readline(MAX_LINE + 1)
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE:
                raise ExportError(f"line {number}: longer than {MAX_LINE} bytes; no export has such lines")
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
    return asyncio.run(_import(db, source))


async def _import(db: str, source: Path) -> ImportReport:
    store = await _open(db, create=True)  # a fresh install can be seeded from an export
    imported = skipped = 0
    try:
        batch: list[NewRow] = []
        for row in _rows(source):
            batch.append(row)
            if len(batch) >= IMPORT_BATCH:
                added = await store.import_rows(batch)
                imported, skipped, batch = imported + added, skipped + len(batch) - added, []
        if batch:
            added = await store.import_rows(batch)
            imported, skipped = imported + added, skipped + len(batch) - added
    finally:
        await store.close()
    return ImportReport(imported, skipped)
