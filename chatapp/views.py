"""HTML pages: the room list (a page at a time) and a room, both rendered on the server."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from . import protocol
from .accounts import current_member
from .attention.views import BLANK_ITEM, LEVEL_CHOICES
from .attention.views import room_context as attention_context
from .files import upload_context
from .fragments import fragments
from .keys import HUB, SETTINGS, STORE, WRITER
from .models import Message
from .params import int_param, room_or_404
from .privacy import visible_room
from .private_rooms import index_extras, room_extras
from .push import page_context as push_context
from .roomlist import PAGE_SIZE, fetch_page, page_query, room_query


@aiohttp_jinja2.template("index.html")
async def index(request: web.Request) -> dict[str, object]:
    """The join form and one page of the room list (or of the rooms found by ``q``)."""
    rq = room_query(request)
    store = request.app[STORE]
    rooms, after = await fetch_page(rq, lambda needle, cursor: store.room_page(needle, cursor, PAGE_SIZE))
    hub = request.app[HUB]
    return {
        "rooms": rooms,
        "online": {r.name: hub.connections(r.name) for r in rooms},
        "search": rq,
        "more": page_query(rq, after) if after is not None else None,
        "max_room": protocol.MAX_ROOM,
        "max_user": protocol.MAX_USER,
        "room_error": request.query.get("error") == "room",
        **await index_extras(request, rq),  # the viewer's private rooms and DMs, apart
    }


async def enter_room(request: web.Request) -> web.StreamResponse:
    """The index form posts nowhere: it GETs here, and we send the browser to the room."""
    raw = request.query.get("room", "").strip()
    room = protocol.normalise_room(raw)
    if room is None:
        raise web.HTTPFound(request.app.router["index"].url_for().with_query(error="room"))
    url = request.app.router["room"].url_for(room=room)
    user = request.query.get("user", "").strip()
    raise web.HTTPFound(url.with_query(user=user) if user else url)


async def room_page(request: web.Request) -> web.StreamResponse:
    room = room_or_404(request)
    if room != request.match_info["room"]:
        location = request.app.router["room"].url_for(room=room).with_query(request.query)
        raise web.HTTPMovedPermanently(location)
    access = await visible_room(request, room)  # 404 unless this viewer may see it
    store = request.app[STORE]
    size = request.app[SETTINGS].history_size
    highlight = int_param(request, "at")
    messages: list[Message]
    if highlight is not None:
        messages = await store.around(room, highlight, size)
        has_older = bool(messages) and bool((await store.before(room, messages[0].id, 1))[0])
    else:
        # One query: a row beyond the page tells whether "load older" has anything to load.
        messages = await store.recent(room, size + 1)
        has_older = len(messages) > size
        messages = messages[-size:] if has_older else messages
    context: dict[str, object] = {
        "room": room,
        "highlight": highlight,
        "has_older": has_older,
        "locked": request.app[WRITER].rooms.is_locked(room),
        "max_message": protocol.MAX_MESSAGE,
        "max_user": protocol.MAX_USER,
        **await room_extras(request, access),
        **await upload_context(request),  # the composer's upload button: limit and token
        **await push_context(request),  # the notifications control's token (members only)
        **await attention_context(request, access, messages),  # the sidebar and the "new messages" divider
    }
    # The messages and the page's <template>s, each rendered once and kept, and the page put
    # together from them (chatapp/fragments.py). The messages are not in the context: the
    # template needs only their markup, and a kept page is keyed by its whole context.
    member = await current_member(request)
    first_unread = context["first_unread"]
    pieces = fragments(request)
    context["messages_html"] = pieces.messages(messages, highlight, member.id if member is not None else None,
                                               first_unread if isinstance(first_unread, int) else None)
    context["room_templates_html"] = pieces.room_templates(member is not None, BLANK_ITEM, LEVEL_CHOICES)
    return pieces.page(request, "room.html", context)
