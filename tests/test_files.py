"""Files in messages, through the real app: uploading each image type and other files,
what is served and how, the limits, who may upload and see, and files going with their
messages (deletes, clears, retention) and staying in a backup."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientResponse
from PIL import ExifTags, Image, PngImagePlugin

from chatapp import files, images, moderation
from chatapp.keys import STORE
from chatapp.models import iso_utc
from chatapp.retention import run_once
from chatapp.settings import Settings

from .conftest import TIMEOUT, MakeClient, db_execute, recv_type
from .image_samples import IMAGES, animated_gif, encoded, exif_with_location, opened, photo, png_header
from .member_client import Client, fresh_browser, sign_up, submit
from .test_export_backup import run_cli

MiB = 1024 * 1024
_TOKEN = re.compile(r'data-upload-token="([^"]+)"')


async def member(client: Client, name: str = "alice", room: str = "lobby") -> str:
    """Sign up; the upload token the room page gives its composer."""
    await sign_up(client, name)
    match = _TOKEN.search(await (await client.get(f"/rooms/{room}")).text())
    assert match, "no upload token on the room page"
    return match.group(1)


async def upload(client: Client, token: str | None, data: bytes, name: str = "cat.png", room: str = "lobby",
                 content_type: str = "application/octet-stream", **fields: str) -> ClientResponse:
    form = aiohttp.FormData(quote_fields=False)  # names as browsers send them: UTF-8, not %-encoded
    for key, value in fields.items():
        form.add_field(key, value)
    # A stream, not bytes: aiohttp warns (an error here) about large bodies given as bytes.
    form.add_field("file", io.BytesIO(data), filename=name, content_type=content_type)
    headers = {"X-CSRF-Token": token} if token is not None else {}
    return await client.post(f"/api/rooms/{room}/files", data=form, headers=headers)


async def uploaded(client: Client, token: str, data: bytes, name: str = "cat.png", **kw: Any) -> dict[str, Any]:
    response = await upload(client, token, data, name, **kw)
    assert response.status == 201, await response.text()
    frame: dict[str, Any] = await response.json()
    return frame


async def count(settings: Settings, table: str) -> int:
    return int((await db_execute(settings.db, f"SELECT count(*) FROM {table}"))[0][0])


# ---- images ----

@pytest.mark.parametrize("mime", list(IMAGES))
async def test_each_image_type_is_shown_inline_with_a_thumbnail(client: Client, mime: str) -> None:
    token = await member(client)
    frame = await uploaded(client, token, IMAGES[mime](), "holiday photo", content_type="text/plain")
    file = frame["file"]
    assert frame["message"] == "holiday photo" and frame["user"] == "alice"
    assert file == {"id": file["id"], "name": "holiday photo", "size": file["size"], "mime": mime, "image": True,
                    "url": f"/files/{file['id']}/holiday%20photo", "width": 800, "height": 600,
                    "thumb": f"/files/{file['id']}/thumb", "thumb_width": 480, "thumb_height": 360}

    full = await client.get(file["url"])
    assert full.status == 200
    assert full.headers["Content-Type"] == mime
    assert full.headers["Content-Disposition"].startswith("inline;")
    assert full.headers["X-Content-Type-Options"] == "nosniff"
    assert full.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert full.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    body = await full.read()
    assert len(body) == file["size"]
    assert opened(body).size == (800, 600)

    thumb = await client.get(file["thumb"])
    assert thumb.status == 200 and thumb.headers["Content-Type"] == "image/webp"
    assert opened(await thumb.read()).size == (480, 360)


async def test_a_photo_loses_its_location_and_is_served_upright(client: Client) -> None:
    token = await member(client)
    original = encoded(photo(), "JPEG", exif=exif_with_location(orientation=6), comment=b"at home, 51.5N",
                       xmp=b"<x:xmpmeta><exif:GPSLatitude>51,30.5N</exif:GPSLatitude></x:xmpmeta>")
    assert opened(original).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test photo does carry a location

    file = (await uploaded(client, token, original, "IMG_0001.JPG"))["file"]
    served = await (await client.get(file["url"])).read()
    img = opened(served)
    assert not img.getexif() and "exif" not in img.info and "comment" not in img.info
    markers = (b"Exif", b"PhoneCo", b"51.5N", b"xmpmeta", b"GPS")
    assert all(m in original for m in markers) and [m for m in markers if m in served] == []
    assert img.size == (600, 800) == (file["width"], file["height"])  # orientation 6: turned a quarter


async def test_png_and_webp_lose_their_metadata_but_keep_their_pixels(client: Client) -> None:
    token = await member(client)
    text = PngImagePlugin.PngInfo()
    text.add_text("Location", "51.5074 N, 0.1278 W")
    png = encoded(photo(), "PNG", pnginfo=text, exif=exif_with_location()) + b"PK\x03\x04 appended archive"
    webp = encoded(photo(), "WEBP", lossless=True, exif=exif_with_location(), xmp=b"<x:xmpmeta>51.5</x:xmpmeta>")
    for data, name in ((png, "screen.png"), (webp, "sticker.webp")):
        file = (await uploaded(client, token, data, name))["file"]
        served = await (await client.get(file["url"])).read()
        for secret in (b"51.5", b"PhoneCo", b"eXIf", b"EXIF", b"tEXt", b"XMP", b"appended"):
            assert secret not in served, (name, secret)
        assert opened(served).convert("RGB").tobytes() == photo().tobytes()


async def test_an_animated_gif_keeps_its_frames_and_loses_its_comment(client: Client) -> None:
    token = await member(client)
    file = (await uploaded(client, token, animated_gif(comment=b"filmed at 51.5N"), "dance.gif"))["file"]
    served = await (await client.get(file["url"])).read()
    assert b"51.5N" not in served
    img = Image.open(io.BytesIO(served))
    assert img.n_frames == 3 and img.info.get("loop") == 0 and "comment" not in img.info
    assert (await client.get(file["thumb"])).status == 200


@pytest.mark.parametrize("size", [(30_000, 30_000), (8_000, 8_000)])
async def test_a_decompression_bomb_is_refused(client: Client, settings: Settings, size: tuple[int, int]) -> None:
    token = await member(client)
    response = await upload(client, token, png_header(*size), "small.png")
    assert response.status == 400
    answer = await response.json()
    assert answer["error"] == "bad_image" and "too large" in answer["detail"]
    assert await count(settings, "files") == await count(settings, "messages") == 0


async def test_bytes_that_only_look_like_an_image_are_refused(client: Client, settings: Settings) -> None:
    token = await member(client)
    response = await upload(client, token, b"\x89PNG\r\n\x1a\n" + b"junk" * 100, "broken.png")
    assert response.status == 400 and (await response.json())["error"] == "bad_image"
    assert await count(settings, "files") == 0


# ---- everything else is a download ----

@pytest.mark.parametrize(("data", "name", "claimed"), [
    (b"<html><script>alert(document.cookie)</script></html>", "x.png", "image/png"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.svg", "image/svg+xml"),
    (b"%PDF-1.7\n...", "report.pdf", "application/pdf"),
])
async def test_anything_but_the_four_image_types_is_an_octet_stream_attachment(
        client: Client, data: bytes, name: str, claimed: str) -> None:
    token = await member(client)
    file = (await uploaded(client, token, data, name, content_type=claimed))["file"]
    assert file["image"] is False and "thumb" not in file
    assert file["mime"] == ("application/pdf" if name.endswith(".pdf") else "application/octet-stream")
    response = await client.get(file["url"])
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert await response.read() == data
    assert (await client.get(f"/files/{file['id']}/thumb")).status == 404


async def test_a_file_name_loses_its_folders_and_invisible_characters(client: Client) -> None:
    token = await member(client)
    frame = await uploaded(client, token, b"hello", "..\\..\\C:\\tmp/evil\u202etxt.exe")
    assert frame["file"]["name"] == frame["message"] == "eviltxt.exe"
    thumb = (await uploaded(client, token, b"x", "thumb"))["file"]
    assert thumb["name"] == "thumb" and thumb["url"] == f"/files/{thumb['id']}/thumb_"  # not the thumbnail's URL
    assert (await client.get(thumb["url"])).status == 200
    assert files.clean_name("x" * 300 + ".tar.gz") == "x" * 197 + ".gz"


async def test_a_caption_is_the_message_and_the_name_stays_in_the_file(client: Client) -> None:
    token = await member(client)
    frame = await uploaded(client, token, b"notes", "notes.txt", message="the minutes")
    assert frame["message"] == "the minutes" and frame["file"]["name"] == "notes.txt"


# ---- limits and refusals ----

async def test_a_file_over_the_limit_is_refused_and_nothing_is_stored(make_client: MakeClient,
                                                                      settings: Settings) -> None:
    client = await make_client(max_upload_mb=1)
    token = await member(client)
    for size in (MiB + 1, 3 * MiB):  # cut off while streaming, and refused by its Content-Length
        response = await upload(client, token, b"\0" * size, "big.bin")
        assert response.status == 413
        assert await response.json() == {"error": "file_too_large",
                                         "detail": "The file is larger than the 1 MB limit; nothing was sent."}
    assert (await upload(client, token, b"\0" * MiB, "just.bin")).status == 201
    assert await count(settings, "files") == await count(settings, "messages") == 1


async def test_an_upload_is_cut_off_as_soon_as_it_streams_past_the_limit(make_client: MakeClient,
                                                                         settings: Settings) -> None:
    client = await make_client(max_upload_mb=1)
    token = await member(client)
    done = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(3 * MiB // 65536):
            yield b"\0" * 65536
        await done.wait()  # no end until the answer came: a server that waited for one never answers

    with aiohttp.MultipartWriter("form-data") as body:  # chunked: no Content-Length to go by
        part = body.append(endless())
        part.set_content_disposition("form-data", name="file", filename="endless.bin")
    async with asyncio.timeout(TIMEOUT):
        response = await client.post("/api/rooms/lobby/files", data=body, headers={"X-CSRF-Token": token})
    done.set()
    assert response.status == 413
    assert await count(settings, "files") == 0


async def test_guests_cannot_upload(client: Client, aiohttp_client: Any, settings: Settings) -> None:
    guest = await fresh_browser(client, aiohttp_client)
    token = await guest.get("/rooms/lobby")
    assert "upload-button" not in await token.text()
    login_token = re.search(r'name="csrf_token" value="([^"]+)"', await (await guest.get("/login")).text())
    assert login_token
    response = await upload(guest, login_token.group(1), b"hello", "hello.txt")
    assert response.status == 403 and (await response.json())["error"] == "members_only"
    assert await count(settings, "files") == 0


async def test_an_upload_without_this_session_s_csrf_token_is_refused(client: Client, settings: Settings) -> None:
    await member(client)
    assert (await upload(client, None, b"hello", "hello.txt")).status == 403
    assert (await upload(client, "forged", b"hello", "hello.txt")).status == 403
    assert await count(settings, "files") == 0


async def test_a_locked_room_refuses_uploads_as_the_socket_does(client: Client, settings: Settings) -> None:
    token = await member(client)
    await moderation.set_locked(client.app, "lobby", True)
    response = await upload(client, token, b"hello", "hello.txt")
    assert response.status == 409 and (await response.json())["error"] == "room_locked"
    assert await count(settings, "files") == 0


async def test_a_message_the_writer_refuses_leaves_no_file(client: Client, settings: Settings) -> None:
    token = await member(client)
    response = await upload(client, token, b"hello", "hello.txt", reply_to="999")
    assert response.status == 400 and (await response.json())["error"] == "reply_not_found"
    assert await count(settings, "files") == 0


async def test_a_retried_upload_gives_back_the_original_and_keeps_one_file(client: Client,
                                                                            settings: Settings) -> None:
    token = await member(client)
    first = await uploaded(client, token, b"hello", "hello.txt", client_id="c1")
    again = await upload(client, token, b"hello", "hello.txt", client_id="c1")
    assert again.status == 200 and (await again.json())["id"] == first["id"]
    assert await count(settings, "files") == 1


async def test_uploads_are_limited_per_address(client: Client) -> None:
    token = await member(client)
    for _ in range(files.UPLOAD_BURST):
        await uploaded(client, token, b"x", "x.txt")
    response = await upload(client, token, b"x", "x.txt")
    assert response.status == 429 and (await response.json())["error"] == "rate_limited"


# ---- who sees what ----

async def test_a_private_room_s_files_are_its_members_alone(client: Client, aiohttp_client: Any) -> None:
    await sign_up(client, "alice")
    assert (await submit(client, "/private/new", room="secret")).status == 303
    token = _TOKEN.search(await (await client.get("/rooms/secret")).text())
    assert token
    file = (await uploaded(client, token.group(1), IMAGES["image/png"](), "plan.png", room="secret"))["file"]
    bob = await fresh_browser(client, aiohttp_client)
    bob_token = await member(bob, "bob")
    guest = await fresh_browser(client, aiohttp_client)
    for outsider in (bob, guest):
        missing = await (await outsider.get("/files/999999/x")).text()
        for url in (file["url"], file["thumb"]):
            response = await outsider.get(url)
            assert response.status == 404 and await response.text() == missing  # as if there were no file
    assert (await upload(bob, bob_token, b"x", "x.txt", room="secret")).status == 404
    assert (await client.get(file["url"])).status == 200


async def test_a_file_is_not_modified_for_a_browser_that_has_it(client: Client) -> None:
    token = await member(client)
    file = (await uploaded(client, token, b"hello", "hello.txt"))["file"]
    first = await client.get(file["url"])
    again = await client.get(file["url"], headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304 and await again.read() == b""


async def test_the_room_hears_of_an_upload_live(client: Client, ws_connect: Any) -> None:
    ws = await ws_connect("lobby")
    token = await member(client)
    frame = await uploaded(client, token, IMAGES["image/jpeg"](), "live.jpg")
    live = await recv_type(ws, "chat")
    assert live == frame and live["file"]["image"] is True


# ---- files go with their messages ----

async def test_deleting_a_message_or_clearing_the_room_deletes_its_file(client: Client, settings: Settings) -> None:
    token = await member(client)
    one = await uploaded(client, token, b"one", "one.txt")
    two = await uploaded(client, token, b"two", "two.txt")
    assert await moderation.delete_message(client.app, "lobby", one["id"])
    assert (await client.get(one["file"]["url"])).status == 404
    assert (await client.get(two["file"]["url"])).status == 200
    await moderation.clear(client.app, "lobby")
    assert (await client.get(two["file"]["url"])).status == 404
    assert await count(settings, "files") == 0


async def test_retention_removes_old_files_and_files_no_message_claimed(client: Client, settings: Settings) -> None:
    token = await member(client)
    store = client.app[STORE]
    now = dt.datetime.now(dt.UTC)
    old = await uploaded(client, token, b"old", "old.txt")
    new = await uploaded(client, token, b"new", "new.txt")
    await store.set_retention("lobby", 7)
    await db_execute(settings.db, "UPDATE messages SET ts = ? WHERE id = ?",
                     iso_utc(now - dt.timedelta(days=8)), old["id"])
    stale = await store.store_file("lobby", None, "lost.txt", "text/plain", b"lost", None, None,
                                   iso_utc(now - dt.timedelta(hours=2)))
    fresh = await store.store_file("lobby", None, "busy.txt", "text/plain", b"busy", None, None, iso_utc(now))

    assert await run_once(store) == 1
    assert (await client.get(old["file"]["url"])).status == 404
    assert (await client.get(new["file"]["url"])).status == 200
    left = {row[0] for row in await db_execute(settings.db, "SELECT id FROM files")}
    assert left == {new["file"]["id"], fresh} and stale not in left


@pytest.mark.sqlite_only(reason="chatapp backup copies the SQLite file; PostgreSQL uses pg_dump")
async def test_a_backup_holds_the_files_and_a_restored_server_serves_them(
        client: Client, settings: Settings, tmp_path: Path, make_client: MakeClient) -> None:
    token = await member(client)
    file = (await uploaded(client, token, IMAGES["image/webp"](), "kept.webp"))["file"]
    served = await (await client.get(file["url"])).read()
    target = tmp_path / "backup.db"
    assert await run_cli("--db", settings.db, "backup", str(target)) == 0

    copy = sqlite3.connect(target)
    try:
        assert copy.execute("SELECT data FROM files WHERE id = ?", (file["id"],)).fetchone() == (served,)
    finally:
        copy.close()
    restored = await make_client(db=str(target))
    response = await restored.get(file["url"])
    assert response.status == 200 and await response.read() == served
    assert (await restored.get(file["thumb"])).status == 200


def test_types_come_from_the_bytes_alone() -> None:
    assert [images.sniff(make()) for make in IMAGES.values()] == list(IMAGES)
    assert images.sniff(b"<svg") == images.sniff(b"<html>") == images.sniff(b"") == "application/octet-stream"
