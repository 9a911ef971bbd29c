"""Sample images for the file tests: each type made in memory, a photo with a location in
its EXIF, an animated GIF, and a PNG header that only claims a size (a decompression bomb
as a decoder first sees it)."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import ExifTags, Image


def encoded(img: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def photo(size: tuple[int, int] = (800, 600)) -> Image.Image:
    img = Image.new("RGB", size, (240, 160, 40))
    img.paste((30, 90, 200), (0, 0, size[0] // 2, size[1] // 3))  # not one flat colour
    return img


def exif_with_location(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 26.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (0.0, 7.0, 39.0)
    return exif


def animated_gif(comment: bytes = b"") -> bytes:
    frames = [Image.new("RGB", (120, 80), (i * 100, 50, 200 - i * 100)) for i in range(3)]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0,
                   comment=comment)


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size and holds almost nothing: what a decompression bomb looks
    like to a decoder before it has decoded anything."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def opened(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


IMAGES = {
    "image/png": lambda: encoded(photo(), "PNG"),
    "image/jpeg": lambda: encoded(photo(), "JPEG"),
    "image/gif": lambda: encoded(photo().convert("P"), "GIF"),
    "image/webp": lambda: encoded(photo(), "WEBP"),
}
