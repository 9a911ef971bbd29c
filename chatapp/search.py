"""Full-text search: the queries over ``messages_fts``, the JSON API and the ``/search`` page.

The index (``migrations/0003_search.sql``) holds each message folded (accents off) and
the trigram tokenizer folds case, so a query is folded the same way and then matched as
one FTS5 string literal: whatever people type — quotes, ``AND``, ``NEAR(``, ``*`` — is
text to find, never query syntax. Trigram cannot match fewer than three characters, so
one- and two-character queries (a CJK word is often two) scan the folded text of the
most recent messages with LIKE instead, newest first, stopping at the limit.

Highlighting happens here too, on the original text: the page gets pieces marked as
match or not, and the template escapes each one, so a message can never inject markup.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from . import protocol, textnorm
from .api import int_param
from .keys import STORE
from .models import dumps
from .store import Store

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Longer than any message can be (4,000), with room for the folding to add a little.
MAX_QUERY = 1000
# Trigram needs three characters; shorter queries scan this many of the newest ids.
SHORT_QUERY_WINDOW = 200_000
# Characters of context shown either side of the first match on the page.
CONTEXT = 80

# Messages can never contain these (see protocol), so a query with them finds nothing.
_NEVER_IN_MESSAGES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

_COLUMNS = "m.id, m.room, m.user, m.body, m.ts"


class BadQuery(ValueError):
    """The query or a filter cannot be searched for; the message says why."""


@dataclass(frozen=True)
class Hit:
    id: int
    room: str
    user: str
    message: str
    ts: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "room": self.room, "user": self.user,
                "message": self.message, "ts": self.ts}


@dataclass(frozen=True)
class Query:
    text: str  # as typed, trimmed: what the page shows and highlights
    folded: str  # as the index holds text
    room: str | None
    user: str | None
    limit: int


def fts_literal(text: str) -> str:
    """``text`` as one FTS5 string: inside double quotes only ``"`` is special, doubled."""
    return '"' + text.replace('"', '""') + '"'


def like_pattern(text: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


def parse_query(q: str | None, room: str | None = None, user: str | None = None,
                limit: int | None = None) -> Query | None:
    """A query ready to run; None when it can match nothing; BadQuery when it is unusable."""
    text = (q or "").strip()
    if not text:
        raise BadQuery("Type something to search for.")
    if len(text) > MAX_QUERY:
        raise BadQuery(f"A search is at most {MAX_QUERY} characters.")
    room_name: str | None = None
    if room:
        room_name = protocol.normalise_room(room.strip())
        if room_name is None:
            raise BadQuery("Room names are 1 to 64 letters, digits, - or _.")
    user_name = unicodedata.normalize("NFC", user).strip() if user and user.strip() else None
    if user_name is not None and len(user_name) > protocol.MAX_USER:
        raise BadQuery(f"Names are at most {protocol.MAX_USER} characters.")
    size = max(1, min(limit or DEFAULT_LIMIT, MAX_LIMIT))
    if _NEVER_IN_MESSAGES.search(text) or (user_name and _NEVER_IN_MESSAGES.search(user_name)):
        return None
    folded = textnorm.fold(text)
    if not folded.strip():
        return None  # only combining marks: nothing left to look for
    return Query(text, folded, room_name, user_name, size)


async def run(store: Store, query: Query) -> list[Hit]:
    """Matching messages, newest first."""
    filters, params = "", []
    if query.room is not None:
        filters += " AND m.room = ?"
        params.append(query.room)
    if query.user is not None:
        filters += " AND m.user = ?"
        params.append(query.user)
    if len(query.folded) >= 3:
        sql = (f"SELECT {_COLUMNS} FROM messages_fts AS f JOIN messages AS m ON m.id = f.rowid "
               f"WHERE messages_fts MATCH ?{filters} ORDER BY f.rowid DESC LIMIT ?")
        args: list[object] = [fts_literal(query.folded), *params, query.limit]
    else:
        # CROSS JOIN keeps messages outside, so a room filter walks its (room, id) index
        # newest first and each candidate's folded text is one rowid lookup away.
        sql = (f"SELECT {_COLUMNS} FROM messages AS m CROSS JOIN messages_fts AS f "
               "ON f.rowid = m.id "
               "WHERE m.id > (SELECT coalesce(max(id), 0) FROM messages) - ?"
               f"{filters} AND f.body_norm LIKE ? ESCAPE '\\' ORDER BY m.id DESC LIMIT ?")
        args = [SHORT_QUERY_WINDOW, *params, like_pattern(query.folded), query.limit]
    try:
        rows = await store.reader.execute_fetchall(sql, args)
    except sqlite3.OperationalError as exc:
        # The query is one quoted string, so FTS5 should never reject it; if some input
        # still trips it, that is the query's fault, not the server's.
        if "fts5" not in str(exc):
            raise
        log.warning("search query rejected by FTS5: %s", exc)
        raise BadQuery("That search could not be run; try other words.") from None
    return [Hit(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


def highlight(text: str, query: str, context: int = CONTEXT) -> list[tuple[str, bool]]:
    """Pieces of ``text`` around the matches of ``query``, each with whether it is a match.

    Matching is on folded, lower-cased text, as the index matches; the pieces are cut
    from the original so accents and case show as written. Long messages are cut to
    ``context`` characters either side of the first match, with an ellipsis.
    """
    folded, origin = textnorm.fold_with_offsets(text)
    needle = textnorm.key(query)
    spans: list[tuple[int, int]] = []
    if needle:
        at = folded.find(needle)
        while at != -1:
            start, end = origin[at], origin[at + len(needle) - 1] + 1
            while end < len(text) and textnorm.FOLD.get(text[end]) == "":
                end += 1  # a combining accent belongs to the letter before it
            if spans and start < spans[-1][1]:
                spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
            else:
                spans.append((start, end))
            at = folded.find(needle, at + len(needle))
    lo, hi = 0, len(text)
    if len(text) > 2 * context + len(query):
        first = spans[0] if spans else (0, 0)
        lo, hi = max(0, first[0] - context), min(len(text), first[1] + context)
    pieces: list[tuple[str, bool]] = [("…", False)] if lo > 0 else []
    pos = lo
    for start, end in spans:
        if end <= lo or start >= hi:
            continue
        start, end = max(start, lo), min(end, hi)
        if start > pos:
            pieces.append((text[pos:start], False))
        pieces.append((text[start:end], True))
        pos = end
    if pos < hi:
        pieces.append((text[pos:hi], False))
    if hi < len(text):
        pieces.append(("…", False))
    return pieces


async def api_search(request: web.Request) -> web.Response:
    """``GET /api/search?q=&room=&user=&limit=`` → ``{"results": [...]}``, newest first."""
    try:
        query = parse_query(request.query.get("q"), request.query.get("room"),
                            request.query.get("user"), int_param(request, "limit"))
        hits = [] if query is None else await run(request.app[STORE], query)
    except BadQuery as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response({"results": [h.as_json() for h in hits]}, dumps=dumps)


async def search_page(request: web.Request) -> web.Response:
    """The ``/search`` page: the form, and the results when there is a query."""
    q = request.query.get("q", "")
    room = request.query.get("room", "")
    user = request.query.get("user", "")
    context: dict[str, Any] = {"q": q, "room": room, "user": user, "results": None,
                               "error": None, "max_query": MAX_QUERY,
                               "max_user": protocol.MAX_USER}
    status = 200
    if q.strip():
        try:
            limit = request.query.get("limit", "")
            query = parse_query(q, room, user,
                                int(limit) if limit.isdigit() and len(limit) < 6 else None)
            hits = [] if query is None else await run(request.app[STORE], query)
            context["results"] = [(h, highlight(h.message, q.strip())) for h in hits]
        except BadQuery as exc:
            context["error"] = str(exc)
            status = 400
    response = aiohttp_jinja2.render_template("search.html", request, context)
    response.set_status(status)
    return response


def setup_search(app: web.Application) -> None:
    app.router.add_get("/api/search", api_search, name="api_search")
    app.router.add_get("/search", search_page, name="search")
