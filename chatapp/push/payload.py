"""What a Web Push says about a message: a title, a plain-text excerpt and where it leads.

The payload is JSON, ``{"title", "body", "url", "room", "id", "tag"}``; static/sw.js shows it.
It is all that leaves the server, encrypted for the browser (RFC 8291): the push service
sees its size, not its words. ``body`` is the message as a reader sees it, without its
formatting, at most :data:`MAX_BODY` characters; ``tag`` is per room, so a room's
notifications replace one another instead of piling up.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

from ..formatting import render
from ..models import Message, dumps
from ..privacy import is_dm_name

MAX_BODY = 200
# Tags that run on with their neighbours' text; any other tag boundary is a space.
_INLINE = frozenset({"a", "strong", "em", "del", "code", "span", "mark", "b", "i", "s", "u"})


class _Text(HTMLParser):
    """The text of the renderer's HTML, with a space where a block or line break was."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _INLINE:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag not in _INLINE:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(body: str) -> str:
    """A message body as one line of plain text (its Markdown rendered, then unformatted)."""
    reader = _Text()
    reader.feed(render(body))
    reader.close()
    return " ".join(html.unescape("".join(reader.parts)).split())


def excerpt(text: str, limit: int = MAX_BODY) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def room_url(room: str, message_id: int) -> str:
    return f"/rooms/{quote(room, safe='')}?at={message_id}"


def tag(room: str) -> str:
    return f"chatapp:{room}"


def title(message: Message, reason: str) -> str:
    room = message.room
    if reason == "dm" or is_dm_name(room):
        return f"{message.user} (direct message)"
    if reason == "mention":
        return f"{message.user} mentioned you in #{room}"
    if reason == "here":
        return f"{message.user} in #{room}, to everyone here"
    return f"{message.user} in #{room}"


def payload(message: Message, reason: str) -> dict[str, Any]:
    text = plain_text(message.body)
    if not text:
        attached = message.file()
        text = f"sent a file: {attached.get('name', 'file')}" if attached else "sent a message"
    return {"title": title(message, reason), "body": excerpt(text), "url": room_url(message.room, message.id),
            "room": message.room, "id": message.id, "tag": tag(message.room)}


def encoded(message: Message, reason: str) -> bytes:
    return dumps(payload(message, reason)).encode("utf-8")
