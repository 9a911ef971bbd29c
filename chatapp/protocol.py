"""The wire contract's client side: parsing and validating what browsers send.

Every way a frame can be wrong maps to one error code (see ``docs/protocol.md``); the
socket handler answers it with an error frame and keeps the connection open.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import orjson

MAX_MESSAGE = 4000
MAX_USER = 32
MAX_CLIENT_ID = 64
MAX_ROOM = 64
DEFAULT_USER = "Anonymous"
MAX_EMOJI = 32  # characters: a family or flag emoji is several code points
MAX_REACTIONS = 20  # different emoji on one message
MAX_ID = 2**63 - 1
MAX_WATCH = 50  # rooms one guest page may watch

ROOM_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# C0 and C1 controls and DEL; newline, carriage return and tab are fine in messages.
_CONTROL_IN_MESSAGE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_IN_NAME = re.compile("[\x00-\x1f\x7f-\x9f]")
# Unicode's Default_Ignorable_Code_Point characters that are not format characters (those
# are refused by category), and blanks that render as nothing: harmless in text, but in a
# name they let one person pose as another ("alice" twice in "Here now").
_INVISIBLE_IN_NAME = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0"
    "\U0001d173-\U0001d17a\U000e0100-\U000e01ef]")
# Format (bidi controls, zero-width, soft hyphen, tags), line and paragraph separators,
# controls, surrogates, private use and unassigned code points.
_REFUSED_CATEGORIES = frozenset({"Cf", "Zl", "Zp", "Cc", "Cs", "Co", "Cn"})

_SURROGATE = re.compile("[\ud800-\udfff]")

ERRORS: dict[str, str] = {
    "invalid_json": "That frame is not valid JSON.",
    "invalid_frame": "A frame must be a JSON object.",
    "unknown_type": "That frame type is not known.",
    "invalid_message": "The message must be a string.",
    "empty_message": "The message is empty.",
    "message_too_long": f"The message is longer than {MAX_MESSAGE} characters.",
    "invalid_characters": "The message contains control characters.",
    "invalid_user": f"The name must be 1 to {MAX_USER} visible characters.",
    "invalid_client_id": f"client_id must be a string of 1 to {MAX_CLIENT_ID} characters.",
    "binary_not_supported": "Binary frames are not supported; send JSON text.",
    "rate_limited": "You are sending too fast; that message was not sent.",
    "name_taken": ("That name belongs to a member of this server. Choose another name, or log in "
                   "if it is yours; nothing was posted under it."),
    "room_locked": "This room is locked; nobody can post in it right now.",
    "room_deleted": "This room was deleted; that message was not sent.",
    "room_limit": ("You are creating new rooms too fast; that message was not sent and the room "
                   "was not created. Post in a room that exists, or try again in a minute."),
    "not_stored": "The server could not store that message; it was not sent. Try again.",
    "storage_full": "The server's storage is full; nothing new can be posted until its operator makes room.",
    "shutting_down": "The server is restarting; that message was not sent. Try again shortly.",
    "invalid_id": "id must be the id of a message (a positive whole number).",
    "invalid_emoji": f"A reaction must be one emoji (at most {MAX_EMOJI} characters).",
    "message_not_found": "There is no such message in this room; it may have been deleted.",
    "reply_not_found": "The message you replied to is not in this room (it may have been deleted); nothing was sent.",
    "forbidden": "You can only edit or delete your own messages.",
    "members_only": "Log in to do that: guests can send and reply to messages, but not edit, delete or react.",
    "too_many_reactions": f"A message can have at most {MAX_REACTIONS} different reactions.",
    # Attention (chatapp.attention): read positions and a guest's watched rooms.
    "invalid_room": f"room must be a room name: 1 to {MAX_ROOM} letters, digits, “-” or “_”.",
    "too_many_rooms": f"A page may watch at most {MAX_WATCH} rooms.",
    "guests_only": "Members' rooms are watched by the server already; only guests send watch.",
}


class ProtocolError(Exception):
    def __init__(self, code: str, detail: str | None = None, client_id: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail or ERRORS[code]
        self.client_id = client_id  # which message was refused, when the frame named one

    def frame(self) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "error", "error": self.code, "detail": self.detail}
        if self.client_id is not None:
            frame["client_id"] = self.client_id
        return frame


@dataclass(frozen=True)
class ChatIn:
    message: str
    user: str
    client_id: str | None
    reply_to: int | None = None


@dataclass(frozen=True)
class TypingIn:
    pass


@dataclass(frozen=True)
class EditIn:
    id: int
    message: str


@dataclass(frozen=True)
class DeleteIn:
    id: int


@dataclass(frozen=True)
class ReactIn:
    id: int
    emoji: str


@dataclass(frozen=True)
class ReadIn:
    """A member has read ``room`` up to ``id`` (chatapp.attention)."""

    room: str
    id: int


@dataclass(frozen=True)
class WatchIn:
    """A guest's page asks for activity in these public rooms: {room: last read id}."""

    rooms: dict[str, int]


ChangeIn = EditIn | DeleteIn | ReactIn
AttentionIn = ReadIn | WatchIn
# For isinstance() on the receive path: a tuple, not a union built again for every frame.
CHANGE_FRAMES = (EditIn, DeleteIn, ReactIn)
ATTENTION_FRAMES = (ReadIn, WatchIn)
Frame = ChatIn | TypingIn | EditIn | DeleteIn | ReactIn | ReadIn | WatchIn


def as_id(raw: str | None) -> int | None:
    """A message id (or count) from a query string: ASCII digits only (``"²".isdigit()`` is
    true, but ``int("²")`` fails), at most 18 of them so it fits a 64-bit INTEGER; None for
    anything else."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


def normalise_room(name: str) -> str | None:
    """The canonical room name, or None when ``name`` is not a valid room name.

    Rooms are case-insensitive: ``Lobby`` and ``lobby`` are one room, named in lower case.
    """
    if not ROOM_RE.match(name):
        return None
    return name.lower()


def clean_user(value: object) -> str:
    """A valid display name from ``value`` (NFKC-normalised, so look-alike compatibility
    forms such as full-width letters compare equal), or ProtocolError('invalid_user')."""
    if not isinstance(value, str) or _SURROGATE.search(value):
        raise ProtocolError("invalid_user")
    name = unicodedata.normalize("NFKC", value).strip()
    if not 1 <= len(name) <= MAX_USER:
        raise ProtocolError("invalid_user")
    if (_CONTROL_IN_NAME.search(name) or _INVISIBLE_IN_NAME.search(name)
            or any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in name)):
        raise ProtocolError("invalid_user", "The name contains invisible or control characters.")
    if not any(unicodedata.category(c)[0] in "LNPS" for c in name):
        raise ProtocolError("invalid_user", "The name must have at least one visible letter, digit or sign.")
    return name


def clean_message(value: object) -> str:
    """``value`` if it is a valid message text, else ProtocolError with the reason."""
    if not isinstance(value, str):
        raise ProtocolError("invalid_message")
    if not value.strip():
        raise ProtocolError("empty_message")
    if len(value) > MAX_MESSAGE:
        raise ProtocolError("message_too_long")
    if _SURROGATE.search(value):
        raise ProtocolError("invalid_characters", "The message contains an unpaired surrogate.")
    if _CONTROL_IN_MESSAGE.search(value):
        raise ProtocolError("invalid_characters")
    return value


def clean_client_id(value: object) -> str | None:
    """``value`` if it is null or a valid client_id, else ProtocolError('invalid_client_id')."""
    if value is not None and (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_CLIENT_ID
        or _CONTROL_IN_NAME.search(value)
        or _SURROGATE.search(value)
    ):
        raise ProtocolError("invalid_client_id")
    return value


def clean_id(value: object, code: str = "invalid_id") -> int:
    """A message id from a frame: a JSON integer from 1 up (``true`` is not one)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise ProtocolError(code)
    return value


def clean_emoji(value: object) -> str:
    """One emoji (possibly a sequence: skin tones, ZWJ families, flags), or ProtocolError."""
    if not isinstance(value, str) or _SURROGATE.search(value):
        raise ProtocolError("invalid_emoji")
    emoji = unicodedata.normalize("NFC", value)
    if not 1 <= len(emoji) <= MAX_EMOJI or not any(unicodedata.category(c) == "So" for c in emoji):
        raise ProtocolError("invalid_emoji")
    if any(c != "\u200d" and unicodedata.category(c) not in _EMOJI_CATEGORIES for c in emoji):
        raise ProtocolError("invalid_emoji")
    return emoji


# Symbols, modifiers (skin tones), variation selectors and keycaps; plus the zero-width joiner.
_EMOJI_CATEGORIES = frozenset({"So", "Sk", "Mn", "Me"})


def _change(kind: str, data: dict[str, Any]) -> ChangeIn:
    message_id = clean_id(data.get("id"))
    if kind == "edit":
        return EditIn(message_id, clean_message(data.get("message")))
    if kind == "delete":
        return DeleteIn(message_id)
    return ReactIn(message_id, clean_emoji(data.get("emoji")))


def _room_name(value: object) -> str:
    room = normalise_room(value) if isinstance(value, str) else None
    if room is None:
        raise ProtocolError("invalid_room")
    return room


def _attention(kind: str, data: dict[str, Any]) -> AttentionIn:
    if kind == "read":
        return ReadIn(_room_name(data.get("room")), clean_id(data.get("id")))
    rooms = data.get("rooms")
    if not isinstance(rooms, dict):
        raise ProtocolError("invalid_frame", 'watch needs "rooms": an object of room names and last read ids.')
    if len(rooms) > MAX_WATCH:
        raise ProtocolError("too_many_rooms")
    watched: dict[str, int] = {}
    for name, last_read in rooms.items():
        # 0: nothing read yet (a room opened before any message).
        watched[_room_name(name)] = 0 if last_read == 0 and not isinstance(last_read, bool) else clean_id(last_read)
    return WatchIn(watched)


def parse(text: str, default_user: str) -> Frame:
    """Parse one client text frame, or raise ProtocolError."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        # Also catches NaN/Infinity, lone surrogates and nesting past orjson's depth limit.
        raise ProtocolError("invalid_json") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_frame")
    kind = data.get("type", "chat")
    if kind == "typing":
        return TypingIn()
    if kind in ("edit", "delete", "react"):
        return _change(kind, data)
    if kind in ("read", "watch"):
        return _attention(kind, data)
    if kind != "chat":
        raise ProtocolError("unknown_type", 'Frame type must be "chat", "typing", "edit", "delete", "react", '
                            '"read" or "watch".')
    # client_id first, so an error about the message can say which message it was about.
    client_id = clean_client_id(data.get("client_id"))
    try:
        message = clean_message(data.get("message"))
        user = default_user if data.get("user") is None else clean_user(data["user"])
        reply_to = None if data.get("reply_to") is None else clean_id(data["reply_to"], "reply_not_found")
    except ProtocolError as exc:
        exc.client_id = client_id
        raise
    return ChatIn(message, user, client_id, reply_to)
