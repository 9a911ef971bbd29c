"""The shapes that cross module boundaries: a stored message, a change to a room, and a
room summary.

A message's wire form is built here once, so the room page, the history API, the
socket and the export all agree on it byte for byte. Its ``html`` is the one renderer's
(:mod:`chatapp.formatting`); the stored body stays the source.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import orjson

from .formatting import plain_text, render

EXCERPT = 120  # characters of the original a reply quotes


class Message(NamedTuple):
    id: int
    room: str
    user: str
    body: str
    ts: str
    client_id: str | None
    member_id: int | None = None  # the sender's account; None for a guest
    edited_at: str | None = None
    reply_to: int | None = None
    reactions: str | None = None  # JSON {"emoji": [names]}, as stored
    attachment: str | None = None  # JSON description of the attached file, as stored
    bot_id: int | None = None  # sent by this bot
    rendered: str | None = None  # the HTML stored with it; None: render on reading
    reply_user: str | None = None  # the replied-to message's sender, None once it is deleted
    reply_excerpt: str | None = None  # and the start of its text

    @property
    def guest(self) -> bool:
        return self.member_id is None and self.bot_id is None

    @property
    def html(self) -> str:
        return self.rendered if self.rendered is not None else render(self.body)

    def frame(self) -> dict[str, Any]:
        frame: dict[str, Any] = {
            "type": "chat",
            "id": self.id,
            "room": self.room,
            "user": self.user,
            "message": self.body,
            "ts": self.ts,
            "client_id": self.client_id,
            "html": self.html,
        }
        # Optional fields appear only when they say something, so a plain guest message's
        # frame (and every export made before them) stays what it was, plus "html".
        if self.member_id is not None:
            frame["member"] = True
        if self.bot_id is not None:
            frame["bot"] = True
        if self.edited_at is not None:
            frame["edited_at"] = self.edited_at
        if self.reply_to is not None:
            frame["reply_to"] = self.reply_to
            frame["reply"] = self.reply()
        if self.reactions:
            frame["reactions"] = reaction_list(self.reactions)
        if self.attachment:
            frame["file"] = orjson.loads(self.attachment)
        return frame

    def reply(self) -> dict[str, Any] | None:
        """What a reply shows of the message it answers; ``deleted`` once that is gone."""
        if self.reply_to is None:
            return None
        if self.reply_user is None:
            return {"id": self.reply_to, "deleted": True}
        return {"id": self.reply_to, "user": self.reply_user, "excerpt": excerpt(self.reply_excerpt or "")}

    def reaction_list(self) -> list[dict[str, Any]]:
        return reaction_list(self.reactions) if self.reactions else []

    def file(self) -> dict[str, Any] | None:
        return orjson.loads(self.attachment) if self.attachment else None

    def frame_text(self) -> str:
        return dumps(self.frame())


def excerpt(body: str) -> str:
    """The start of a message as one line of plain text (no Markdown), for a reply's quote."""
    text = plain_text(body)
    return text if len(text) <= EXCERPT else text[:EXCERPT - 1].rstrip() + "…"


def reaction_list(stored: str) -> list[dict[str, Any]]:
    """Stored reactions as the wire lists them: each emoji, how many, and who."""
    users: dict[str, list[str]] = orjson.loads(stored)
    return [{"emoji": emoji, "count": len(names), "users": names} for emoji, names in users.items() if names]


class RoomEvent(NamedTuple):
    """A change to a room after its messages were sent, at its place in the room's log
    (``id`` is drawn from the message ids' sequence; see migrations/0010)."""

    id: int
    room: str
    kind: str  # "edit", "delete", "reactions" or "clear"
    message_id: int | None
    ts: str
    data: str | None  # edit: the new body; reactions: the stored reactions JSON

    def frame(self) -> dict[str, Any]:
        # "id" stays the message's id, as the delete frame always had it; "event_id" is
        # the place in the log, which a page resumes after (docs/protocol.md).
        frame: dict[str, Any] = {"type": self.kind, "room": self.room, "event_id": self.id}
        if self.message_id is not None:
            frame["id"] = self.message_id
        if self.kind == "edit":
            body = self.data or ""
            frame.update(message=body, html=render(body), edited_at=self.ts)
        elif self.kind == "reactions":
            frame["reactions"] = reaction_list(self.data) if self.data else []
        return frame

    def frame_text(self) -> str:
        return dumps(self.frame())


class RoomSummary(NamedTuple):
    name: str
    message_count: int
    last_message_at: str | None
    locked: bool


def dumps(obj: Any) -> str:
    """JSON text for the wire. orjson is several times faster than the standard library here."""
    return orjson.dumps(obj).decode("utf-8")


def iso_utc(when: dt.datetime) -> str:
    """ISO 8601 UTC with milliseconds and a Z, as every ``ts`` on the wire; sorts as text."""
    when = when.astimezone(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def utc_now_iso() -> str:
    return iso_utc(dt.datetime.now(dt.UTC))
