"""Marking a query's matches in a rendered message: text only, everything escaped, no
markup but <mark> added, whatever the message or the query."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from chatapp.formatting import render
from chatapp.highlight import _read, _Reader, mark_matches, match_spans
from chatapp.textnorm import key

from .test_formatting import PAYLOADS, Audit


class Shape(HTMLParser):
    """HTML as a browser reads it: elements with their attributes and the text between,
    with <mark> elements dropped and adjacent text joined."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[tuple[str, object]] = []
        self.marks: list[str] = []
        self._in_mark: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "mark":
            self._in_mark = []
        else:
            self.items.append(("start", (tag, sorted(attrs, key=lambda a: a[0]))))

    def handle_endtag(self, tag: str) -> None:
        if tag == "mark" and self._in_mark is not None:
            self.marks.append("".join(self._in_mark))
            self._in_mark = None
        elif tag != "mark":
            self.items.append(("end", tag))

    def handle_data(self, data: str) -> None:
        if self._in_mark is not None:
            self._in_mark.append(data)
        if self.items and self.items[-1][0] == "text":
            self.items[-1] = ("text", str(self.items[-1][1]) + data)
        else:
            self.items.append(("text", data))


def marked(body: str, query: str, context: int = 80) -> str:
    return mark_matches(render(body), query, context)


def test_matches_are_marked_on_the_text_as_written() -> None:
    assert marked("Café and cafe", "cafe") == "<p><mark>Café</mark> and <mark>cafe</mark></p>"
    assert marked("Straße", "strasse") == "<p><mark>Straße</mark></p>"
    assert marked("cafe\u0301!", "cafe") == "<p><mark>cafe\u0301</mark>!</p>"
    assert marked("no match here", "zzz") == "<p>no match here</p>"
    assert marked("東京で会議", "東京") == "<p><mark>東京</mark>で会議</p>"


def test_a_match_across_formatting_is_marked_piece_by_piece() -> None:
    assert marked("**hel**lo world", "hello") == "<p><strong><mark>hel</mark></strong><mark>lo</mark> world</p>"
    assert marked("line one\nline two", "one line") == "<p>line one<br>\nline two</p>"  # a break is no space


def test_marks_go_in_text_never_in_tags_or_attributes() -> None:
    body = "see https://example.com/cafe and [the cafe](https://cafe.example.com/?q=cafe)"
    html = marked(body, "cafe")
    assert 'href="https://example.com/cafe"' in html and 'href="https://cafe.example.com/?q=cafe"' in html
    assert Shape(html).marks == ["cafe", "cafe"]
    for query in ["href", "target", "_blank", "noopener", "rel", "p", "a", "<", ">", '"', "&", "&amp;",
                  "mark", "<mark>", "</p>", "https", "=", "example.com/cafe"]:
        html = marked(body, query)
        assert Shape(html).items == Shape(render(body)).items, query
        assert all(key(query) in key(m) or key(m) in key(query) for m in Shape(html).marks), query


def test_markup_typed_in_a_message_or_a_query_stays_text() -> None:
    assert marked("<b>cafe</b>", "b>ca") == "<p>&lt;<mark>b&gt;ca</mark>fe&lt;/b&gt;</p>"
    assert marked("x & y", "&") == "<p>x <mark>&amp;</mark> y</p>"
    assert marked('he said "hi"', '"hi"') == '<p>he said <mark>"hi"</mark></p>'


@pytest.mark.parametrize("query", ["a", "e", "script", "alert(1)", "<", "on", "http", "x", "1", " ", "é"])
def test_highlighting_adds_marks_and_nothing_else(query: str) -> None:
    for body in PAYLOADS:
        html = render(body)
        out = mark_matches(html, query, context=10_000)
        audit = Audit(out.replace("<mark>", "").replace("</mark>", ""))
        assert audit.problems == [] and audit.depth == 0, body[:60]
        assert Shape(out).items == Shape(html).items, body[:60]


def test_a_long_message_is_cut_around_the_first_match_keeping_whole_elements() -> None:
    html = marked("a" * 500 + " needle " + "b" * 500, "needle", context=20)
    assert html == "<p>…" + "a" * 19 + " <mark>needle</mark> " + "b" * 19 + "…</p>"
    listed = marked("- one\n- two\n" + "- filler\n" * 50 + "- the needle\n" + "- after\n" * 50, "needle",
                    context=30)
    shape = Shape(listed)
    assert shape.marks == ["needle"]
    assert listed.startswith("<ul>") and listed.endswith("</ul>")
    audit = Audit(listed.replace("<mark>", "").replace("</mark>", ""))
    assert audit.depth == 0 and audit.problems == []
    assert "one" not in listed and listed.count("<li>") < 15
    assert listed.index("…") < listed.index("needle") < listed.rindex("…")


def test_a_long_message_without_a_match_shows_its_start() -> None:
    html = marked("nothing here " * 30, "zzz", context=20)
    assert html == "<p>nothing here nothing…</p>"


@pytest.mark.parametrize("query", ["the", "THE", "he t", "a", "aa", "é", "東", "ǅ", "ss", "<p>", ""])
def test_plain_ascii_text_is_matched_exactly_as_any_other_text(query: str) -> None:
    # ASCII text takes a short way; a CJK character at the end (which folds to itself and
    # can match nothing here) sends the same text the long way, for comparison.
    for text in ["The theme of the other thesis", "aaaa aaa", "x" * 50, "Strasse SS", "", "<p>&amp;</p>",
                 "Tab\tand\nnewline THE end"]:
        assert match_spans(text, query) == match_spans(text + "東", query.replace("東", "")), (text, query)


def test_a_plain_paragraph_is_read_exactly_as_the_html_parser_reads_it() -> None:
    bodies = [*PAYLOADS, "plain words", "x &amp; y", "a > b", "'quoted' \"twice\"", "&#60;script&#62;", "&amp;lt;",
              "東京 café", "~1~2~0~ the deploy"]
    for html in [render(body) for body in bodies] + ["<p>a &amp b &notit; &#x3c;</p>", "<p></p>", "<p>x</p><p>y</p>"]:
        reader = _Reader()
        reader.feed(html)
        reader.close()
        assert _read(html) == (reader.pieces, "".join(reader.text)), html
