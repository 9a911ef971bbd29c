"""Marking a search query's matches in a rendered message, for the search page.

A hit shows as it does in the room, through the one renderer (:mod:`chatapp.formatting`),
with the query's matches wrapped in ``<mark>`` inside its text only, never in a tag or an
attribute. The renderer's HTML is read back with the standard library's HTML parser and
written out again from the parsed pieces, every text and attribute value escaped here:
nothing the highlighter does can open a tag, and it adds none but ``<mark>``.

Matching is on folded, lower-cased text, as the index matches (:mod:`chatapp.textnorm`);
the marks go on the original, so accents and case show as written. A match may run across
formatting ("**hel**lo" for "hello"): it is then marked piece by piece. A long message is
cut to some context either side of its first match, keeping only the elements that hold
text in that window.
"""

from __future__ import annotations

import bisect
import itertools
from html import escape, unescape
from html.parser import HTMLParser
from typing import NamedTuple

from . import textnorm

# Characters of context shown either side of the first match of a long message.
CONTEXT = 80
ELLIPSIS = "…"
_VOID = frozenset({"br"})  # of the renderer's tags, those that have no end tag


def match_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Where ``query`` matches in ``text``: (start, end) offsets, in order, merged when
    they overlap. A combining accent after a match belongs to it."""
    needle = textnorm.key(query)
    spans: list[tuple[int, int]] = []
    if not needle:
        return spans
    if text.isascii():
        # Most chat text: folding leaves ASCII alone (no FOLD key is ASCII) and lower()
        # keeps its length, so offsets are the text's own and there are no combining marks
        # to extend over, nor overlaps to merge. Mapping each character cost more than
        # marking and writing out the rest of the message.
        lowered = text.lower()
        at = lowered.find(needle)
        while at != -1:
            spans.append((at, at + len(needle)))
            at = lowered.find(needle, at + len(needle))
        return spans
    folded, origin = textnorm.fold_with_offsets(text)
    at = folded.find(needle)
    while at != -1:
        start, end = origin[at], origin[at + len(needle) - 1] + 1
        while end < len(text) and textnorm.FOLD.get(text[end]) == "":
            end += 1
        if spans and start < spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
        at = folded.find(needle, at + len(needle))
    return spans


class _Piece(NamedTuple):
    kind: str  # "start", "end" or "text"
    tag: str  # the element's name; "" for text
    attrs: list[tuple[str, str | None]]
    text: str
    start: int  # offset into the message's text: where this piece (an element: its text) begins
    end: int  # and ends; an element's is filled in at its end tag


class _Reader(HTMLParser):
    """The renderer's HTML as a flat list of pieces, with each element's text offsets."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[_Piece] = []
        self.text: list[str] = []
        self.length = 0
        self._open: list[int] = []  # indexes of the start pieces of open elements

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.pieces.append(_Piece("start", tag, attrs, "", self.length, self.length))
        if tag not in _VOID:
            self._open.append(len(self.pieces) - 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.pieces.append(_Piece("start", tag, attrs, "", self.length, self.length))

    def handle_endtag(self, tag: str) -> None:
        # Close what is open up to the element this ends; an end tag for nothing open
        # is dropped. The renderer's HTML is well formed: this only keeps ours so.
        if not any(self.pieces[i].tag == tag for i in self._open):
            return
        while self._open:
            index = self._open.pop()
            piece = self.pieces[index]
            self.pieces[index] = piece._replace(end=self.length)
            self.pieces.append(_Piece("end", piece.tag, [], "", self.length, self.length))
            if piece.tag == tag:
                return

    def handle_data(self, data: str) -> None:
        self.pieces.append(_Piece("text", "", [], data, self.length, self.length + len(data)))
        self.text.append(data)
        self.length += len(data)

    def close(self) -> None:
        super().close()
        while self._open:
            self.handle_endtag(self.pieces[self._open[-1]].tag)


def _read(html: str) -> tuple[list[_Piece], str]:
    """The pieces of the renderer's ``html`` and its text."""
    inner = html[3:-4]
    if html.startswith("<p>") and html.endswith("</p>") and inner and "<" not in inner:
        # One paragraph of plain text, most chat messages: what the parser would make of
        # it (it unescapes data the same way), without running the parser.
        text = unescape(inner)
        return [_Piece("start", "p", [], "", 0, len(text)), _Piece("text", "", [], text, 0, len(text)),
                _Piece("end", "p", [], "", len(text), len(text))], text
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.pieces, "".join(reader.text)


def _start_tag(piece: _Piece) -> str:
    attrs = "".join(f" {name}" if value is None else f' {name}="{escape(value)}"'
                    for name, value in piece.attrs)
    return f"<{piece.tag}{attrs}>"


def _marked(text: str, offset: int, lo: int, hi: int, spans: list[tuple[int, int]], ends: list[int]) -> str:
    """``text`` (at ``offset`` in the message) cut to [lo, hi), escaped, matches marked.
    ``ends`` are the spans' ends, to start at the first span that reaches past ``lo``."""
    out: list[str] = []
    pos = lo
    for start, end in itertools.islice(spans, bisect.bisect_right(ends, lo), None):
        if start >= hi:
            break
        start, end = max(start, lo), min(end, hi)
        if start > pos:
            out.append(escape(text[pos - offset:start - offset], quote=False))
        out.append("<mark>" + escape(text[start - offset:end - offset], quote=False) + "</mark>")
        pos = end
    if pos < hi:
        out.append(escape(text[pos - offset:hi - offset], quote=False))
    return "".join(out)


def mark_matches(html: str, query: str, context: int = CONTEXT) -> str:
    """The renderer's ``html`` with ``query``'s matches in its text wrapped in ``<mark>``.

    A message whose text is longer than ``context`` characters either side of its first
    match is cut to that, with an ellipsis where text was left out.
    """
    pieces, text = _read(html)
    spans = match_spans(text, query)
    ends = [end for _, end in spans]
    lo, hi = 0, len(text)
    if len(text) > 2 * context + len(query):
        first = spans[0] if spans else (0, 0)
        lo, hi = max(0, first[0] - context), min(len(text), first[1] + context)
    cut = lo > 0 or hi < len(text)

    def shown(piece: _Piece) -> bool:
        """Whether the piece has text in the window, or sits inside it holding none."""
        return not cut or (piece.start < hi and piece.end > lo) or lo < piece.start < hi

    # The ellipses go on the first and last text shown that is more than the white space
    # between blocks (text directly inside <ul> or <blockquote> would sit apart).
    worded = [i for i, p in enumerate(pieces)
              if p.kind == "text" and shown(p) and p.text[max(lo - p.start, 0):hi - p.start].strip()]
    first_worded, last_worded = (worded[0], worded[-1]) if worded else (-1, -1)
    out: list[str] = []
    hidden = 0  # how deep inside an element with nothing shown
    for i, piece in enumerate(pieces):
        if hidden:
            if piece.kind == "start" and piece.tag not in _VOID:
                hidden += 1
            elif piece.kind == "end":
                hidden -= 1
        elif piece.kind == "end":
            out.append(f"</{piece.tag}>")
        elif not shown(piece):
            hidden = int(piece.kind == "start" and piece.tag not in _VOID)
        elif piece.kind == "start":
            out.append(_start_tag(piece))
        else:
            start, end = max(piece.start, lo), min(piece.end, hi)
            before = ELLIPSIS if i == first_worded and lo > 0 else ""
            after = ELLIPSIS if i == last_worded and hi < len(text) else ""
            out.append(before + _marked(piece.text, piece.start, start, end, spans, ends) + after)
    return "".join(out)
