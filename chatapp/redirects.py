"""Where to send a browser after a login: ``next=``, reduced to a path on this site.

A login form takes ``next`` from its query and sends the browser there afterwards, which
makes it a way to bounce a visitor from our login page to any site, unless the value is
checked exactly as the browser will read it. Browsers drop ASCII tab, CR and LF anywhere
in a URL, ignore leading and trailing C0 controls and spaces, and treat ``\\`` as ``/``:
so ``/\\t/evil.example`` and ``/\\evil.example`` both mean ``//evil.example``, another host.
:func:`safe_next` applies those rules first, then accepts only a path (no scheme, no
host, no backslash, no control character, no ``.``/``..`` segment, not starting with
``//``) and writes it percent-encoded, so the ``Location`` header is plain ASCII. Every
``next`` goes through it: the admin login now, the members' ``/login`` later.
"""

from __future__ import annotations

import re
import urllib.parse

from yarl import URL

MAX_NEXT = 2048  # longer than any page of ours; a longer value is not a page of ours

_DROPPED = str.maketrans("", "", "\t\n\r")  # what the URL parser removes anywhere
_EDGES = "".join(map(chr, range(0x21)))  # C0 controls and space, stripped at both ends
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _is_local_path(text: str) -> bool:
    return (text.startswith("/") and not text.startswith("//") and "\\" not in text
            and not _CONTROL.search(text))


def safe_next(value: str | None, default: str = "/admin") -> str:
    """``value`` as a path on this site (percent-encoded, ASCII only), or ``default``."""
    if not value or len(value) > MAX_NEXT:
        return default
    text = value.translate(_DROPPED).strip(_EDGES)
    if not _is_local_path(text):
        return default
    split = urllib.parse.urlsplit(text)
    if split.scheme or split.netloc:
        return default
    path = urllib.parse.unquote(split.path)
    # Decoded, the path must still be a plain local one: no %2F%2F or %5C route around it.
    if not _is_local_path(path) or any(part in (".", "..") for part in path.split("/")):
        return default
    try:
        url = URL(text)
    except ValueError:
        return default
    if url.is_absolute() or url.raw_authority:
        return default
    result = url.raw_path_qs  # encoded: what goes in the header is ASCII; the fragment is dropped
    return result if _is_local_path(result) and result.isascii() else default
