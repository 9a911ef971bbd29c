"""What a request's URL says: the room it names and its numeric query parameters.

Anything malformed is refused here with a clear message (404 for a room name that can
never exist, 400 for a number that is not one), so no handler turns bad input into a 500.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from . import protocol


def room_or_404(request: web.Request) -> str:
    room = protocol.normalise_room(request.match_info["room"])
    if room is None:
        raise web.HTTPNotFound(text="Room names are 1 to 64 letters, digits, - or _.")
    return room


def int_param(request: web.Request, name: str) -> int | None:
    """An optional non-negative integer query parameter (ASCII digits); anything else is a
    400 (JSON under /api/, by the errors middleware)."""
    return int_query(request.query, name)


def int_query(query: Mapping[str, str], name: str) -> int | None:
    """:func:`int_param`, from query parameters parsed already (see chatapp.ws)."""
    raw = query.get(name, "")
    value = protocol.as_id(raw)
    if raw and value is None:
        raise web.HTTPBadRequest(text=f"{name} must be a non-negative whole number written with the digits 0-9")
    return value
