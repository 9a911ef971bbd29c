"""What crosses the storage interface besides the calls themselves: the errors a backend
raises and the records it returns (:mod:`chatapp.storage.base` is the interface).

Errors say what the caller can do about them: :class:`RowRejected` belongs to one row
(the others of a batch may still be stored), :class:`Unavailable` to the whole database
(a held lock, a full disk: fail the batch at once and try again later), :class:`Busy`
means a bounded lane is full (answer 503 with Retry-After), :class:`TooSlow` that a query
ran past its time budget.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import NamedTuple

from ..models import Message, RoomSummary, iso_utc


class StorageError(Exception):
    """The database could not do what was asked; the message says why."""


class RowRejected(StorageError):
    """One row broke a rule of the schema; retrying it alone will fail again."""


class Unavailable(StorageError):
    """The database cannot write (or read) right now: locked, read-only, full, gone."""


class Busy(StorageError):
    """A bounded lane (search, export) is full; try again in a moment."""


class TooSlow(StorageError):
    """A query ran past its time budget and was interrupted."""


class BadCursor(ValueError):
    """A room list cursor that this backend did not make (a 400 for the page that got it)."""


class MigrationError(StorageError):
    """The schema cannot be brought up to date (e.g. the database is from a newer chatapp)."""


class BackupError(StorageError):
    """The backup was not made; the message says why, in one line."""


class NewRow(NamedTuple):
    """A chat message to insert: the writer's batch is a sequence of these."""

    room: str
    user: str
    body: str
    ts: str
    client_id: str | None
    member_id: int | None = None  # the sender's account; None for a guest
    reply_to: int | None = None  # answers this message of the same room
    attachment: str | None = None  # JSON description of a file already stored (chatapp/files.py)
    bot_id: int | None = None  # sent by this bot
    html: str | None = None  # the body rendered (chatapp/formatting.py); None: rendered on reading


class RoomStats(NamedTuple):
    name: str
    message_count: int
    last_message_at: str | None
    locked: bool
    retention_days: int | None
    names_24h: int


class AuditEntry(NamedTuple):
    id: int
    at: str
    action: str
    room: str | None
    message_id: int | None
    client: str
    detail: str | None
    actor: str | None = None  # None: the operator; else the admin member's name


class Hit(NamedTuple):
    """A search result: the message as stored."""

    id: int
    room: str
    user: str
    message: str
    ts: str
    rendered: str | None = None  # the HTML stored with the message
    bot: bool = False  # posted by a bot (chatapp.bots)

    @property
    def html(self) -> str:
        # How the message looks (as the room shows it) is display, not storage: imported
        # here so the storage layer's own imports stay free of it.
        from ..formatting import render

        return self.rendered if self.rendered is not None else render(self.message)

    def as_json(self) -> dict[str, object]:
        hit: dict[str, object] = {"id": self.id, "room": self.room, "user": self.user,
                                  "message": self.message, "html": self.html, "ts": self.ts}
        if self.bot:
            hit["bot"] = True
        return hit


class SessionRecord(NamedTuple):
    """A live server-side session: whose it is and how long it lasts (ISO 8601 UTC times)."""

    kind: str  # "operator" (members come with the accounts issue)
    subject: str  # which one of that kind; "" for the one operator
    created_at: str
    last_seen_at: str
    expires_at: str


class Member(NamedTuple):
    """An account (chatapp.accounts). Times are ISO 8601 UTC text; the password hash is
    never part of it (see :meth:`Storage.member_login`)."""

    id: int
    name: str
    name_key: str
    role: str  # "member" or "admin"
    status: str  # "active" or "deactivated"
    created_at: str
    last_seen_at: str | None
    session_version: int


class JoinLink(NamedTuple):
    """A join link as the admin lists it (the token itself is never stored)."""

    token_hash: str
    created_at: str
    expires_at: str
    max_uses: int
    uses: int
    revoked_at: str | None
    created_by: str | None  # the admin member's name; None: the operator


class MemberRoom(NamedTuple):
    """One of a member's private rooms or DMs, for their index page (chatapp.privacy)."""

    summary: RoomSummary
    visibility: str  # "private" or "dm"
    other: str | None  # a DM's other member's name; None for a private room


class BackupReport(NamedTuple):
    path: Path
    bytes: int
    messages: int

    def __str__(self) -> str:
        return (f"backup written to {self.path}: {self.bytes} bytes, {self.messages} messages, "
                "integrity ok")


class Bot(NamedTuple):
    """A bot (chatapp.bots): an account of its own kind that posts with a token through the
    HTTP API. The token is never part of it, only checked (see :meth:`Storage.bot_auth`)."""

    id: int
    name: str
    name_key: str
    created_at: str
    rotated_at: str | None
    revoked_at: str | None  # None: its token works
    limited: bool  # True: only ``rooms`` (none if empty); False: every public room
    rooms: tuple[str, ...]
    webhook_url: str | None
    webhook_secret: str | None  # the HMAC key its webhook deliveries are signed with
    failures: int  # webhook deliveries given up on, ever
    last_error: str | None
    last_error_at: str | None
    last_delivery_at: str | None


class FileInfo(NamedTuple):
    """A stored file linked to its message (chatapp.files), without its bytes."""

    id: int
    room: str
    message_id: int
    name: str
    mime: str  # sniffed from its bytes
    size: int
    thumb_mime: str | None  # None: not an image, no thumbnail


class PushSubscription(NamedTuple):
    """Where one of a member's browsers takes Web Push messages (chatapp.push): the push
    service's URL and the browser's keys to encrypt for (url-safe base64, as it gave them)."""

    id: int
    member_id: int
    endpoint: str
    p256dh: str
    auth: str


class SidebarRoom(NamedTuple):
    """One room of a member's sidebar (chatapp.attention), with its counts as of the query."""

    room: str
    visibility: str  # "public", "private" or "dm"
    other: str | None  # a DM's other member's name
    last_read: int  # the newest id the member has read there
    level: str | None  # the notification level they chose; None: the room's default
    unread: int  # messages after last_read, counted up to the query's count_limit
    mentions: int  # mentions of the member after last_read, counted up to the same limit
    latest: int  # the newest message id in the room, 0 for none
    last_message_at: str | None


class MentionWanted(NamedTuple):
    """One mention to record: a member's folded name (``@name``), or a member id (``@here``)."""

    message_id: int
    room: str
    name_key: str | None
    member_id: int | None
    sender_id: int | None  # the sender's member id: nobody is recorded mentioning themselves


class MentionHit(NamedTuple):
    """A message that mentioned the member, for their Mentions list."""

    message: Message
    visibility: str
    other: str | None  # a DM's other member's name


def utc_instant(text: str) -> str | None:
    """``text`` as the canonical wire time (``2024-05-01T12:00:00.000Z``), or None when it
    is not a real UTC instant. Stored times must sort as text, so every one goes through here."""
    if not text.endswith("Z") or "T" not in text:
        return None
    try:
        when = dt.datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        return None
    if when.year < 1970:
        return None
    return iso_utc(when)
