"""Accent folding for search: the one mapping both the index and the queries use.

The search index (``migrations/0003_search.sql``) stores each message with its accented
Latin letters replaced by plain ones (``Café`` → ``Cafe``, ``Straße`` → ``Strasse``); the
trigram tokenizer folds case on top of that. That replacement is written in plain SQL in
the migration so that every connection — the server's, ``sqlite3`` on the command line,
a test's — keeps the index right without registering anything. This module is the same
mapping in Python, for the query side and for highlighting; a test checks that the two
agree character by character.

The mapping is derived from Unicode decompositions, which the Unicode stability policy
promises never to change, so it cannot drift from the SQL with a Python upgrade.
"""

from __future__ import annotations

import unicodedata

# Letters that do not decompose but that people type without their stroke or ligature.
_EXTRA: dict[str, str] = {
    "Æ": "AE", "æ": "ae", "Ð": "D", "ð": "d", "Ø": "O", "ø": "o", "Þ": "TH", "þ": "th",
    "ß": "ss", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i", "Ł": "L", "ł": "l",
    "Œ": "OE", "œ": "oe", "ŧ": "t", "Ŧ": "T", "ƀ": "b", "Ɨ": "I", "ƚ": "l", "ɍ": "r",
    "Ɍ": "R", "ẞ": "SS",
}

# The blocks folded, each a tier of the SQL (see sql_views): Latin-1 Supplement, Latin
# Extended-A and -B, the combining accents (for text typed decomposed), and Latin
# Extended Additional (Vietnamese).
TIERS: tuple[tuple[int, int], ...] = (
    (0x00C0, 0x00FF), (0x0100, 0x017F), (0x0180, 0x024F), (0x0300, 0x036F), (0x1E00, 0x1EFF),
)


def _build() -> dict[str, str]:
    fold: dict[str, str] = {}
    for lo, hi in TIERS:
        for code in range(lo, hi + 1):
            ch = chr(code)
            if unicodedata.combining(ch):
                fold[ch] = ""
                continue
            if ch in _EXTRA:
                fold[ch] = _EXTRA[ch]
                continue
            base = "".join(c for c in unicodedata.normalize("NFKD", ch)
                           if not unicodedata.combining(c))
            if base and base != ch and base.isascii() and base.isalpha():
                fold[ch] = base
    return fold


FOLD: dict[str, str] = _build()
_TABLE = str.maketrans(FOLD)


def fold(text: str) -> str:
    """``text`` with accents removed exactly as the search index removes them (case kept)."""
    return text.translate(_TABLE)


def fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """Folded and lower-cased ``text``, and for each of its characters the index it came from.

    Used to find a match in the folded text and map it back onto the original for
    highlighting; lengths differ because ``ß`` becomes ``ss`` and accents typed as
    separate combining marks vanish.
    """
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        piece = FOLD.get(ch, ch).lower()
        out.append(piece)
        origin.extend([i] * len(piece))
    return "".join(out), origin


def key(text: str) -> str:
    """What a query is compared with when highlighting: folded and lower-cased."""
    return fold_with_offsets(text)[0]


def _char(code: int) -> str:
    # Combining marks are invisible on their own, so they are written as char(N).
    return f"char({code})" if unicodedata.combining(chr(code)) else f"'{chr(code)}'"


def glob_pattern(lo: int, hi: int) -> str:
    """An SQL expression: a GLOB pattern matching text with any character from lo to hi."""
    return f"'*[' || {_char(lo)} || '-' || {_char(hi)} || ']*'"


def sql_views(prefix: str = "search_fold", per_view: int = 25) -> str:
    """The SQL of the folding views, as written into ``0003_search.sql``.

    SQLite's parser overflows past about thirty nested calls, so the replace() chain is
    split over stacked views of ``per_view`` calls each, which the planner flattens back
    into one expression. Every replace() copies the whole text, so the chain is cut into
    :data:`TIERS` and each tier runs only when the message has a character in its range
    (GLOB, cheap): French text pays for Latin-1's ~60 calls, not all ~640. Each view
    carries ``tier_in``, the text as the tier found it, for the tier's last view to fall
    back to; a tier's expression thus appears twice, doubling the flattened tree per tier
    (a few thousand nodes in all, compiled once per statement), never evaluated twice.
    """
    views: list[str] = []
    source, current = "messages", "body"
    n = 0
    for lo, hi in TIERS:
        items = sorted((src, dst) for src, dst in FOLD.items() if lo <= ord(src) <= hi)
        chunks = [items[i:i + per_view] for i in range(0, len(items), per_view)]
        for k, chunk in enumerate(chunks):
            n += 1
            tier_in = current if k == 0 else "tier_in"
            expr = current if k == 0 else "folded"
            for src, dst in chunk:
                expr = f"replace({expr}, {_char(ord(src))}, '{dst}')"
            if k == len(chunks) - 1:
                expr = f"CASE WHEN body GLOB {glob_pattern(lo, hi)}\n        THEN {expr}\n        ELSE tier_in END"
                if k == 0:
                    expr = expr.replace("ELSE tier_in", f"ELSE {tier_in}")
            name = f"{prefix}_{n:02d}"
            views.append(f"CREATE VIEW {name} (id, body, tier_in, folded) AS\n"
                         f"    SELECT id, body, {tier_in}, {expr}\n    FROM {source};\n")
            source = name
        current = "folded"
    return "\n".join(views)
