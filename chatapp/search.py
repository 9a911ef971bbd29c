"""Full-text search: parsing a query, the JSON API and the ``/search`` page.

A query is folded (accents off, see :mod:`chatapp.textnorm`) as the index holds text and
handed to :meth:`chatapp.storage.Storage.search`, which treats it as text to find, never
as query syntax. Searches are the most expensive thing a visitor can ask for, so they are
bounded three ways: per client address (a token bucket), in how many run at once (the
storage's slow lane: past it, 503 with Retry-After) and in time (a budget per query).

A result shows the message as the room does, through the one renderer
(:mod:`chatapp.formatting`), with the query's matches marked in its text by
:mod:`chatapp.highlight`; the JSON API gives that HTML unmarked, beside the stored text.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from . import protocol, textnorm
from .accounts import current_member
from .highlight import mark_matches
from .keys import SETTINGS, STORE
from .models import dumps
from .netutil import client_addr
from .params import int_param
from .ratelimit import PerAddress
from .storage import Busy, Hit, QueryRefused, TooSlow

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Longer than any message can be (4,000), with room for the folding to add a little.
MAX_QUERY = 1000
RETRY_AFTER = 2  # seconds to wait when refused

# Messages can never contain these (see protocol), so a query with them finds nothing.
_NEVER_IN_MESSAGES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class BadQuery(ValueError):
    """The query or a filter cannot be searched for; the message says why."""


class SearchUnavailable(Exception):
    """Not now: too many searches from this address (429) or in all (503); says when to come back."""

    def __init__(self, detail: str, status: int) -> None:
        super().__init__(detail)
        self.status = status


@dataclass(frozen=True)
class Query:
    text: str  # as typed, trimmed: what the page shows and highlights
    folded: str  # as the index holds text
    room: str | None
    user: str | None
    limit: int


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


LIMITER = web.AppKey("search_limiter", PerAddress)


async def run(request: web.Request, query: Query) -> list[Hit]:
    """Matching messages, newest first; SearchUnavailable or BadQuery when they cannot be had."""
    if not request.app[LIMITER].allow(client_addr(request, request.app[SETTINGS])):
        raise SearchUnavailable("You are searching too fast; wait a few seconds.", 429)
    # Private rooms and DMs are filtered in the query (chatapp.privacy): pages stay full.
    member = await current_member(request)
    try:
        return await request.app[STORE].search(query.folded, query.room, query.user, query.limit,
                                               member.id if member else None,
                                               member is not None and member.role == "admin")
    except Busy:
        raise SearchUnavailable("The server is busy with other searches; try again in a moment.",
                                503) from None
    except TooSlow:
        raise BadQuery("That search took too long; try longer or more specific words.") from None
    except QueryRefused as exc:
        raise BadQuery(str(exc)) from None


def _unavailable(exc: SearchUnavailable) -> web.HTTPException:
    kind = web.HTTPTooManyRequests if exc.status == 429 else web.HTTPServiceUnavailable
    return kind(text=str(exc), headers={"Retry-After": str(RETRY_AFTER)})


async def api_search(request: web.Request) -> web.Response:
    """``GET /api/search?q=&room=&user=&limit=`` → ``{"results": [...]}``, newest first."""
    try:
        query = parse_query(request.query.get("q"), request.query.get("room"),
                            request.query.get("user"), int_param(request, "limit"))
        hits = [] if query is None else await run(request, query)
    except BadQuery as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    except SearchUnavailable as exc:
        raise _unavailable(exc) from None
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
            query = parse_query(q, room, user, int_param(request, "limit"))
            hits = [] if query is None else await run(request, query)
            # The renderer's output, marked by a highlighter that escapes all it writes.
            context["results"] = [(h, Markup(mark_matches(h.html, q.strip())))
                                  for h in hits]
        except BadQuery as exc:
            context["error"] = str(exc)
            status = 400
        except SearchUnavailable as exc:
            raise _unavailable(exc) from None
    response = aiohttp_jinja2.render_template("search.html", request, context)
    response.set_status(status)
    return response


def setup_search(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[LIMITER] = PerAddress(settings.search_rate, settings.search_burst)
