"""Files in messages: ``POST /api/rooms/<room>/files`` stores one and posts the message that
carries it; ``GET /files/<id>/<name>`` and ``GET /files/<id>/thumb`` serve it.

Uploads are for members only: a guest is anyone at all, and a chat server that stores and
serves anyone's bytes under its own name is a free file host for malware and worse.
Guests still see files in the rooms they can see.

An upload is read as it streams in and cut off (413) the moment it passes
``max_upload_mb``: it is never buffered past the limit, and the app's 64 KiB
``client_max_size`` does not apply to a multipart stream. What the file is comes from its
bytes (:mod:`chatapp.images`); its bytes go into the database, unlinked, and its
description (the ``file`` of the chat frame, docs/protocol.md) into a message submitted
to the batch writer like any other, which links the two as it stores the message. If the
writer refuses the message, the file is deleted at once, and the answer is the error the
socket would have sent.

Serving: a file is visible exactly where its room's messages are (:mod:`chatapp.privacy`;
anything else is the same 404 as a file that does not exist). The four image types are
shown inline as what they are; everything else is an ``application/octet-stream``
attachment, so no upload can ever be rendered as a page or an SVG by this origin. A
file's URL never changes content (ids are never reused), so it is cached for a year.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from . import csrf, images, protocol
from .accounts import current_member
from .keys import SENDERS, SETTINGS, STORE, WRITER
from .models import dumps, utc_now_iso
from .netutil import client_addr
from .privacy import still_allowed, visible_room
from .ratelimit import PerAddress
from .writer import NotStored, WriterClosed
from .ws import CHARS_PER_TOKEN

MiB = 1024 * 1024
CHUNK = 64 * 1024
FORM_OVERHEAD = 64 * 1024  # a request's Content-Length may pass the limit by this (fields, boundaries)
MAX_FIELD = 4 * protocol.MAX_MESSAGE + 1024  # bytes of a text field: a whole caption in UTF-8
MAX_NAME = 200  # characters of a file name
UPLOAD_RATE, UPLOAD_BURST = 10 / 60, 10  # uploads per second per address, and at once
MAX_IN_FLIGHT = 16  # uploads read at once, server-wide: memory is bounded by this many limits
IMAGE_WORKERS = 2  # images decoded at once (each may take up to ~200 MB for a moment)
CACHE = "private, max-age=31536000, immutable"
FILE_CSP = "sandbox; default-src 'none'"
NOT_FOUND = "There is no such file here."

STATUS = {"room_locked": 409, "room_deleted": 409, "rate_limited": 429, "room_limit": 429,
          "storage_full": 507, "not_stored": 503, "shutting_down": 503, "busy": 503}
DETAILS = {
    "members_only": "Only members can share files: log in or sign up. Guests can chat and see files.",
    "uploads_off": "File uploads are turned off on this server.",
    "missing_file": "Choose a file to send (the form field is called file).",
    "empty_file": "That file is empty; nothing was sent.",
    "invalid_upload": "An upload must be a multipart form with one file field.",
    "busy": "The server is taking many uploads right now; try again in a moment.",
    "rate_limited": "You are uploading too fast; wait a little and try again.",
}


class Refusal(Exception):
    """An upload refused: answered as JSON ``{"error": code, "detail": ...}``."""

    def __init__(self, code: str, detail: str | None = None, status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail or DETAILS.get(code) or protocol.ERRORS.get(code, code)
        self.status = status or STATUS.get(code, 400)

    def response(self) -> web.Response:
        response = web.json_response({"error": self.code, "detail": self.detail}, status=self.status, dumps=dumps)
        if self.status in (429, 503):
            response.headers["Retry-After"] = "10"
        return response


@dataclass
class Uploads:
    """Per-address upload allowance and the server-wide bounds on work in flight."""

    limiter: PerAddress = field(default_factory=lambda: PerAddress(UPLOAD_RATE, UPLOAD_BURST))
    decoding: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(IMAGE_WORKERS))
    in_flight: int = 0


UPLOADS = web.AppKey("uploads", Uploads)


def setup_uploads(app: web.Application) -> None:
    app[UPLOADS] = Uploads()


async def upload_context(request: web.Request) -> dict[str, object]:
    """What the room page needs for its upload button: the limit in bytes (0: no button,
    for guests or with uploads off) and the CSRF token the upload sends."""
    limit = request.app[SETTINGS].max_upload_mb * MiB
    if not limit or await current_member(request) is None:
        return {"max_upload": 0, "upload_token": ""}
    return {"max_upload": limit, "upload_token": await csrf.token(request)}


# ---- uploading ----

@dataclass
class Form:
    name: str = "file"
    data: bytes | None = None
    fields: dict[str, str] = field(default_factory=dict)


async def upload(request: web.Request) -> web.StreamResponse:
    uploads = request.app[UPLOADS]
    if uploads.in_flight >= MAX_IN_FLIGHT:
        return Refusal("busy").response()
    uploads.in_flight += 1
    try:
        return await _upload(request, uploads)
    except Refusal as refusal:
        return refusal.response()
    finally:
        uploads.in_flight -= 1


async def _upload(request: web.Request, uploads: Uploads) -> web.StreamResponse:
    settings, writer, store = request.app[SETTINGS], request.app[WRITER], request.app[STORE]
    csrf.check_origin(request)
    access = await visible_room(request)  # a private room is a 404, as on every path
    room = access.room
    member = await current_member(request)
    if member is None:
        raise Refusal("members_only", status=403)
    # Only the header: the token cannot come from the form without reading the file first.
    if csrf.CSRF_HEADER not in request.headers:
        raise web.HTTPForbidden(text=f"The {csrf.CSRF_HEADER} header is missing; reload the page and try again.")
    await csrf.check_token(request)
    limit = settings.max_upload_mb * MiB
    if not limit:
        raise Refusal("uploads_off", status=403)
    epoch = writer.rooms.epoch(room)
    refusal = writer.rooms.refusal(room, epoch)
    if refusal is not None:  # said before the upload is read; the writer checks again
        raise Refusal(refusal)
    addr = client_addr(request, settings)
    if not uploads.limiter.allow(addr):
        raise Refusal("rate_limited")
    if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD:
        _too_large(settings.max_upload_mb)

    form = await _read_form(request, limit, settings.max_upload_mb)
    data = form.data
    if data is None:
        raise Refusal("missing_file")
    if not data:
        raise Refusal("empty_file")
    try:
        caption = form.fields.get("message", "")
        body = protocol.clean_message(caption) if caption.strip() else form.name
        client_id = protocol.clean_client_id(form.fields.get("client_id") or None)
    except protocol.ProtocolError as exc:
        raise Refusal(exc.code, exc.detail) from None
    raw_reply = form.fields.get("reply_to", "")
    reply_to = protocol.as_id(raw_reply) if raw_reply else None
    if raw_reply and not reply_to:
        raise Refusal("reply_not_found")
    if not request.app[SENDERS].allow(addr, 1 + len(body) // CHARS_PER_TOKEN):
        raise Refusal("rate_limited", protocol.ERRORS["rate_limited"])

    mime = images.sniff(data)
    processed: images.Processed | None = None
    if mime in images.IMAGE_TYPES:
        async with uploads.decoding:
            try:
                processed = await asyncio.to_thread(images.process, data, mime)
            except images.BadImage as exc:
                raise Refusal("bad_image", str(exc)) from None
        data = processed.data
    file_id = await store.store_file(room, member.id, form.name, mime, data,
                                     processed.thumb if processed else None,
                                     images.THUMB_MIME if processed else None, utc_now_iso())
    description = describe(file_id, form.name, mime, len(data), processed)

    async def refused(code: str, detail: str | None = None) -> NoReturn:
        await store.delete_unlinked_file(file_id)
        raise Refusal(code, detail)

    if not still_allowed(request.app, access):  # removed from the room while uploading
        await refused("room_deleted")
    try:
        future = writer.submit(room, member.name, body, client_id, epoch, creator=addr, member_id=member.id,
                               reply_to=reply_to, attachment=dumps(description))
        stored = await future
    except WriterClosed:
        await refused("shutting_down")
    except NotStored as exc:
        await refused(exc.code, protocol.ERRORS.get(exc.code))
    if stored.duplicate:  # a retry of a client_id already stored: its file is the original's
        await store.delete_unlinked_file(file_id)
        return web.Response(text=stored.text, content_type="application/json")
    return web.Response(text=stored.text, status=201, content_type="application/json")


def describe(file_id: int, name: str, mime: str, size: int, image: images.Processed | None) -> dict[str, Any]:
    """The ``file`` of a chat frame (docs/protocol.md): stored as the message's attachment."""
    segment = "thumb_" if name == "thumb" else name  # /files/<id>/thumb is the thumbnail's
    description: dict[str, Any] = {"id": file_id, "name": name, "size": size, "mime": mime,
                                   "image": image is not None, "url": f"/files/{file_id}/{quote(segment, safe='')}"}
    if image is not None:
        description.update(width=image.width, height=image.height, thumb=f"/files/{file_id}/thumb",
                           thumb_width=image.thumb_width, thumb_height=image.thumb_height)
    return description


def _too_large(max_mb: int) -> NoReturn:
    raise Refusal("file_too_large", f"The file is larger than the {max_mb} MB limit; nothing was sent.", 413)


async def _read_form(request: web.Request, limit: int, max_mb: int) -> Form:
    """The form's file and text fields, each read a chunk at a time and cut off at its limit."""
    form = Form()
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise Refusal("invalid_upload")
            if part.name == "file" and form.data is None:
                form.name = clean_name(part.filename)
                form.data = await _read_part(part, limit, lambda: _too_large(max_mb))
            elif part.name in ("message", "client_id", "reply_to") and part.name not in form.fields:
                raw = await _read_part(part, MAX_FIELD, _field_too_long)
                form.fields[part.name] = raw.decode("utf-8")
            else:
                raise Refusal("invalid_upload", f"Unexpected form field {str(part.name)[:40]!r}.")
    except (AssertionError, KeyError, ValueError):  # not multipart, no boundary, bad UTF-8, cut short
        raise Refusal("invalid_upload") from None
    return form


def _field_too_long() -> NoReturn:
    raise Refusal("message_too_long")


async def _read_part(part: BodyPartReader, limit: int, over: Callable[[], NoReturn]) -> bytes:
    buffer = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        buffer += chunk
        if len(buffer) > limit:
            over()
    return bytes(buffer)


def clean_name(raw: str | None) -> str:
    """A file name safe to show and to save: no folders, no control, invisible or bidi
    characters (``gpj.exe`` must not pass for ``exe.jpg``), at most MAX_NAME characters
    (keeping the extension); "file" when nothing is left."""
    # Browsers send the name in UTF-8 with only '"', CR and LF %-encoded (the HTML standard).
    name = unicodedata.normalize("NFC", (raw or "").replace("%22", '"'))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
    name = " ".join(name.split()).strip(" .")
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        keep = dot + ext if dot and 0 < len(ext) <= 16 else ""
        name = (stem if keep else name)[:MAX_NAME - len(keep)].rstrip(" .") + keep
    return name or "file"


# ---- serving ----

async def download(request: web.Request) -> web.StreamResponse:
    return await _serve(request, thumb=False)


async def thumbnail(request: web.Request) -> web.StreamResponse:
    return await _serve(request, thumb=True)


async def _serve(request: web.Request, thumb: bool) -> web.StreamResponse:
    store = request.app[STORE]
    file_id = protocol.as_id(request.match_info["id"])
    info = await store.file_info(file_id) if file_id else None
    if info is None or (thumb and info.thumb_mime is None):
        raise web.HTTPNotFound(text=NOT_FOUND)
    try:
        await visible_room(request, info.room)
    except web.HTTPNotFound:
        raise web.HTTPNotFound(text=NOT_FOUND) from None  # the same 404 as a file that is not there
    image = thumb or info.mime in images.IMAGE_TYPES
    etag = f'"{info.id}{"t" if thumb else ""}"'
    headers = {
        "Content-Type": (info.thumb_mime or "") if thumb else info.mime if image else "application/octet-stream",
        "Content-Disposition": _disposition("inline" if image else "attachment", info.name),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": FILE_CSP,
        "Cross-Origin-Resource-Policy": "same-origin",  # no other site may embed it
        "Cache-Control": CACHE,
        "ETag": etag,
    }
    wanted = request.headers.get("If-None-Match", "")
    if wanted and (wanted.strip() == "*" or etag in (t.strip().removeprefix("W/") for t in wanted.split(","))):
        del headers["Content-Type"]
        return web.Response(status=304, headers=headers)
    data = await store.file_data(info.id, thumb)
    if data is None:  # deleted since the first read
        raise web.HTTPNotFound(text=NOT_FOUND)
    return web.Response(body=data, headers=headers)


def _disposition(kind: str, name: str) -> str:
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
