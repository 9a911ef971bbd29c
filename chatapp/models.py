"""The shapes that cross module boundaries: a stored message and a room summary.

A message's wire form is built here once, so the room page, the history API, the
socket and the export all agree on it byte for byte.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import orjson


class Message(NamedTuple):
    id: int
    room: str
    user: str
    body: str
    ts: str
    client_id: str | None
    member_id: int | None = None  # the sender's account; None for a guest

    @property
    def guest(self) -> bool:
        return self.member_id is None

    def frame(self) -> dict[str, Any]:
        frame = {
            "type": "chat",
            "id": self.id,
            "room": self.room,
            "user": self.user,
            "message": self.body,
            "ts": self.ts,
            "client_id": self.client_id,
        }
        # A member's message says so; a guest's has no such field, so guests' frames (and
        # every export made before accounts existed) stay exactly what they were.
        if self.member_id is not None:
            frame["member"] = True
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
