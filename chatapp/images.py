"""What an uploaded file is, from its bytes alone, and what of an image is served.

:func:`sniff` reads magic numbers, never the file's name or the type the client claims: a
page named ``cat.png`` that starts with ``<html>`` is a download, not an image. The four
image types a browser shows inline (PNG, JPEG, GIF, WebP) go through :func:`process`, in a
thread (it decodes pixels): Pillow must open and decode the image (a file that only looks
like one is refused), its size is bounded before any pixel is decoded (decompression
bombs), a thumbnail is made, and what is served keeps no metadata that could tell where
or when a picture was taken:

- **JPEG** is re-encoded without EXIF, XMP or comments (its ICC colour profile stays),
  with the EXIF orientation applied to the pixels, as browsers would have shown it; an
  upright one keeps its own quantisation tables (``quality="keep"``), so nothing is lost
  to a second compression.
- **PNG, WebP and GIF** keep their pixel data byte for byte, animations included, and
  lose every chunk or block not on a short list of what rendering needs: text, EXIF,
  XMP, comments, times, private chunks and anything after the end marker go. A still
  PNG or WebP whose EXIF says it is rotated is re-encoded upright instead, like a JPEG.
  GIFs have no EXIF, but comments and application blocks (XMP lives in one) can say
  anything, so only the looping block is kept.
"""

from __future__ import annotations

import functools
import io
import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
# 50 megapixels: a 48 MP phone photo fits; decoded, one costs at most 200 MB (RGBA), and
# chatapp.files decodes two at a time.
MAX_PIXELS = 50_000_000
THUMB_BOX = (480, 480)
THUMB_MIME = "image/webp"  # small, keeps transparency, shown by every current browser
THUMB_QUALITY = 80
JPEG_QUALITY = 90  # for a JPEG that had to be turned upright


@functools.cache
def _setup_pillow() -> None:
    """Import Pillow and set it up, once for the process, before it decodes anything.

    Not at start: Pillow costs ~2 MiB that a server nobody uploads an image to never needs.
    It refuses images over twice ``MAX_PIXELS`` (DecompressionBombError) and only warns over
    it; the warning is made an error here, once for the process (a ``catch_warnings`` per
    call is not thread-safe, and images are decoded in threads), so both are refused. Two
    threads racing here both set the same two things before either decodes anything.
    """
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


class BadImage(ValueError):
    """The bytes say image, but no image can be served from them; the message says why."""


@dataclass(frozen=True)
class Processed:
    data: bytes  # what is served at full size
    width: int
    height: int
    thumb: bytes  # THUMB_MIME
    thumb_width: int
    thumb_height: int


def sniff(data: bytes) -> str:
    """The file's type from its first bytes; ``application/octet-stream`` when unknown."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    # A few common downloads, named for what the message shows; all are served as
    # application/octet-stream attachments whatever they are.
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"PK\x03\x04"):
        return "application/zip"
    if data.startswith(b"\x1f\x8b"):
        return "application/gzip"
    return "application/octet-stream"


def process(data: bytes, mime: str) -> Processed:
    """The image to serve and its thumbnail, or BadImage. Blocking: run it in a thread."""
    _setup_pillow()
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data), formats=[IMAGE_TYPES[mime]]) as img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise BadImage(_too_large(width, height))
            orientation = _orientation(img) if mime != "image/gif" else 1
            if mime == "image/jpeg":
                served, shown = _jpeg(img, orientation)
            elif orientation != 1 and getattr(img, "n_frames", 1) == 1:
                shown = ImageOps.exif_transpose(img)
                served = _upright(shown, mime, data)
            else:
                served, shown = STRIP[mime](data), img
            thumb, thumb_size = _thumbnail(shown)
            return Processed(served, shown.width, shown.height, thumb, *thumb_size)
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImage(_too_large(*_size_or_zero(data, mime))) from None
    except Exception as exc:  # hostile bytes make Pillow raise all kinds of errors
        log.debug("image refused: %r", exc)
        raise BadImage("That image could not be read; it may be damaged or not really an image.") from None


def _too_large(width: int, height: int) -> str:
    size = f" ({width} x {height} pixels)" if width and height else ""
    return f"That image is too large{size}; images can have at most {MAX_PIXELS // 1_000_000} megapixels."


def _size_or_zero(data: bytes, mime: str) -> tuple[int, int]:
    if mime == "image/png" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return 0, 0


def _orientation(img: Image.Image) -> int:
    from PIL import ExifTags

    try:
        value = img.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # unreadable EXIF: shown as stored, and dropped anyway
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _jpeg(img: Image.Image, orientation: int) -> tuple[bytes, Image.Image]:
    out = io.BytesIO()
    # Pillow writes EXIF and XMP only when asked; a comment it copies unless told not to.
    clean = {"icc_profile": img.info.get("icc_profile"), "exif": b"", "comment": b""}
    if orientation == 1 and img.format == "JPEG":
        img.save(out, "JPEG", quality="keep", subsampling="keep", **clean)
        return out.getvalue(), img
    from PIL import ImageOps

    upright = ImageOps.exif_transpose(img)
    upright.save(out, "JPEG", quality=JPEG_QUALITY, **clean)
    return out.getvalue(), upright


def _upright(img: Image.Image, mime: str, original: bytes) -> bytes:
    """A still PNG or WebP re-encoded with its rotation applied and no metadata."""
    out = io.BytesIO()
    icc = img.info.get("icc_profile")
    if mime == "image/png":
        img.save(out, "PNG", icc_profile=icc)
    else:
        lossless = b"VP8L" in original[12:4096]
        img.save(out, "WEBP", lossless=lossless, quality=100 if lossless else JPEG_QUALITY,
                 icc_profile=icc or "")
    return out.getvalue()


def _thumbnail(img: Image.Image) -> tuple[bytes, tuple[int, int]]:
    alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    thumb = img.convert("RGBA" if alpha else "RGB")  # a copy; also decodes the (first) frame
    thumb.thumbnail(THUMB_BOX)
    out = io.BytesIO()
    thumb.save(out, "WEBP", quality=THUMB_QUALITY)
    return out.getvalue(), thumb.size


# ---- keeping only what rendering needs, byte for byte ----

# Critical chunks, colour and transparency, pixel density, and APNG's animation chunks.
_PNG_KEEP = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT",
                       b"sRGB", b"cICP", b"mDCV", b"mDCv", b"cLLI", b"cLLi", b"bKGD", b"pHYs",
                       b"acTL", b"fcTL", b"fdAT"})
_WEBP_KEEP = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
_WEBP_EXIF_XMP_FLAGS = 0x08 | 0x04  # VP8X: "has EXIF", "has XMP"
_GIF_LOOPING = (b"NETSCAPE2.0", b"ANIMEXTS1.0")
_DAMAGED = "That image is damaged: its structure ends early."


def strip_png(data: bytes) -> bytes:
    out, pos = [data[:8]], 8
    while pos < len(data):
        if pos + 12 > len(data):
            raise BadImage(_DAMAGED)
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + int.from_bytes(data[pos:pos + 4], "big")
        if end > len(data):
            raise BadImage(_DAMAGED)
        if kind in _PNG_KEEP:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break  # whatever follows the end (an appended archive, say) is not served
    return b"".join(out)


def strip_webp(data: bytes) -> bytes:
    chunks, pos = [], 12
    end_of_riff = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    while pos + 8 <= end_of_riff:
        kind = data[pos:pos + 4]
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        end = pos + 8 + size + (size & 1)  # chunks are padded to an even length
        if pos + 8 + size > len(data):
            raise BadImage(_DAMAGED)
        if kind in _WEBP_KEEP:
            chunk = data[pos:end]
            if kind == b"VP8X" and size >= 1:
                chunk = chunk[:8] + bytes([chunk[8] & ~_WEBP_EXIF_XMP_FLAGS & 0xFF]) + chunk[9:]
            chunks.append(chunk)
        pos = end
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def strip_gif(data: bytes) -> bytes:
    if len(data) < 13:
        raise BadImage(_DAMAGED)
    pos = 13 + _colour_table(data[10])
    out = [data[:pos]]
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then sub-blocks
            start, pos = pos, pos + 2
            label = data[start + 1] if start + 1 < len(data) else 0
            end = _after_sub_blocks(data, pos)
            if label == 0xF9 or (label == 0xFF and data[pos + 1:pos + 12] in _GIF_LOOPING):
                out.append(data[start:end])  # graphic control (timing, transparency), looping
            pos = end
        elif block == 0x2C:  # image: descriptor, local colour table, LZW code size, data
            start, pos = pos, pos + 10
            if pos > len(data):
                raise BadImage(_DAMAGED)
            pos += _colour_table(data[pos - 1]) + 1
            pos = _after_sub_blocks(data, pos)
            out.append(data[start:pos])
        else:
            raise BadImage(_DAMAGED)
    out.append(b";")
    return b"".join(out)


def _colour_table(packed: int) -> int:
    return 3 * (2 << (packed & 7)) if packed & 0x80 else 0


def _after_sub_blocks(data: bytes, pos: int) -> int:
    while True:
        if pos >= len(data):
            raise BadImage(_DAMAGED)
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


STRIP = {"image/png": strip_png, "image/webp": strip_webp, "image/gif": strip_gif}
