"""The message renderer: the chat subset of Markdown, inert HTML for any input, the fast path.

Every output is checked with an HTML parser (what a browser would build from it), not by
looking for strings. How long the renderer takes is measured by ``python -m bench.formatting``,
never asserted here.
"""

from __future__ import annotations

import random
import urllib.parse
from html.parser import HTMLParser

import pytest
from markdown_it import rules_inline

from bench.formatting import PATHOLOGICAL, PLAIN, TYPICAL
from chatapp import formatting
from chatapp.formatting import LINK_REL, is_plain, render, render_markdown

from .test_hardening import XSS
from .test_redirects import HOSTILE

ALLOWED_TAGS = {"p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a"}
ALLOWED_ATTRIBUTES = {"a": {"href", "rel", "target"}, "ol": {"start"}}
SCHEMES = {"http", "https", "mailto"}
VOID = {"br"}


class Audit(HTMLParser):
    """What a browser would make of some HTML, and every way it breaks the renderer's rules."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.tags: list[str] = []
        self.links: list[dict[str, str | None]] = []
        self.depth = self.max_depth = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, _ in attrs:
            if name.startswith("on"):
                self.problems.append(f"handler {name} on <{tag}>")
            if name not in ALLOWED_ATTRIBUTES.get(tag, set()):
                self.problems.append(f"attribute {name} on <{tag}>")
        if tag == "a":
            link = dict(attrs)
            self.links.append(link)
            if link.get("rel") != LINK_REL or link.get("target") != "_blank":
                self.problems.append(f"link without the rel and target: {link}")
            href = link.get("href")
            if href is not None and (href != href.strip() or urllib.parse.urlsplit(href).scheme not in SCHEMES):
                self.problems.append(f"href {href!r}")
        if tag not in VOID:
            self.depth += 1
            self.max_depth = max(self.max_depth, self.depth)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.depth -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID:
            self.depth -= 1

    def handle_comment(self, data: str) -> None:
        self.problems.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        self.problems.append(f"declaration {decl!r}")

    def handle_pi(self, data: str) -> None:
        self.problems.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"declaration {data!r}")


MARKDOWN_XSS = [
    # HTML where Markdown puts text
    "[<img src=x onerror=alert(1)>](http://a.com)", "**<svg onload=alert(1)>**",
    "> <script>alert(1)</script>", "- <img src=x onerror=alert(1)>", "`<script>alert(1)</script>`",
    "```\n<script>alert(1)</script>\n```", '```"><script>alert(1)</script>\nx\n```',
    "~~~ onload=alert(1)\nx\n~~~", '<a href="javascript:alert(1)">x</a>', "<iframe src=javascript:alert(1)>",
    "<style>*{display:none}</style>", "<!-- a comment -->", "<![CDATA[x]]>", "<?php echo 1 ?>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>', "<svg><a xlink:href=javascript:alert(1)>x",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    # link destinations in every disguise
    "[x](javascript:alert(1))", "[x](JAVASCRIPT:alert(1))", "[x](  javascript:alert(1))",
    "[x](<javascript:alert(1)>)", "[x](javascript&#58;alert(1))", "[x](javascript&colon;alert(1))",
    "[x](&#106;avascript:alert(1))", "[x](&#x6A;avascript:alert(1))", "[x](java\tscript:alert(1))",
    "[x](java\nscript:alert(1))", "[x](\u200bjavascript:alert(1))", "[x](java\x00script:alert(1))",
    "[x](data:text/html,<script>alert(1)</script>)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", "[x](vbscript:msgbox(1))",
    "[x](file:///etc/passwd)", "[x](//evil.example)", "[x](/relative)", "[x](#fragment)", "[x](?q=1)",
    "[x](ftp://a.com)", "[x](http://a.com\"onclick=\"alert(1))", "[x](http://a.com 'x' onclick='alert(1)')",
    '[a](http://x.com "title\\" onclick=")', '[a](http://x.com "t" onmouseover="alert(1)")',
    "[x]: javascript:alert(1)\n[x]", "[x]: http://a.com\n[x]", "[x][y]\n\n[y]: javascript:alert(1)",
    # images
    "![x](javascript:alert(1))", "![x](http://a.com/x.png)", '![x](http://a.com/x.png "t" onerror="alert(1)")',
    "![<img src=x onerror=alert(1)>](http://a.com/x.png)", "[![x](http://a/x.png)](http://a.com)",
    # autolinks and bare URLs
    "<javascript:alert(1)>", "<JaVaScRiPt:alert(1)>", "<data:text/html,x>", "<vbscript:x>",
    '<http://a.com/"onmouseover="alert(1)>', 'http://a.com/"onmouseover="alert(1)',
    "http://a.com/'onmouseover='alert(1)", "http://a.com/<script>alert(1)</script>",
    'www.evil.com/"onclick="alert(1)', 'mailto:a@b.com"onclick="alert(1)', "a@b.com<script>alert(1)</script>",
    "javascript://a.com/%0Aalert(1)", "JAVASCRIPT://example.com/%0aalert(1)", "data://example.com/x",
    "https://a.com/\u202eexe.txt", "http://[::1]:80/<svg>", "http://a.com/?x=<img src=x onerror=alert(1)>",
    # entity tricks
    "&#106;avascript:alert(1)", "&lt;script&gt;alert(1)&lt;/script&gt;", "&#60;script&#62;alert(1)",
    "&amp;lt;script&amp;gt;", "&#x3C;img src=x onerror=alert(1)&#x3E;", "&#0;&#xD800;&#x110000;",
    # control characters and broken text
    "\x00<script>alert(1)</script>", "a\ud800b<script>", "\r\n<img src=x onerror=alert(1)>\r",
]

PAYLOADS = [*XSS, *HOSTILE, *(f"[x]({h})" for h in HOSTILE), *(f"<{h}>" for h in HOSTILE), *MARKDOWN_XSS,
            *PATHOLOGICAL.values()]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_input_renders_as_inert_html(payload: str) -> None:
    html = render(payload)
    audit = Audit(html)
    assert audit.problems == [], (payload[:60], html[:300])
    assert audit.depth == 0, "tags are balanced"


def test_no_payload_leaves_a_script_handler_or_image_to_find() -> None:
    for payload in PAYLOADS:
        audit = Audit(render(payload))
        assert not {"script", "img", "svg", "iframe", "style", "math"} & set(audit.tags), payload[:60]
        for link in audit.links:
            href = (link.get("href") or "").lower()
            assert not href.startswith(("javascript:", "data:", "vbscript:", "file:")), payload[:60]


def test_links_that_are_not_http_https_or_mailto_stay_text() -> None:
    for payload in ["[x](javascript:alert(1))", "[x](JAVASCRIPT:alert(1))", "[x](  javascript:alert(1))",
                    "[x](data:text/html,hi)", "[x](vbscript:x)", "[x](ftp://a.com)", "[x](/relative)",
                    "<javascript:alert(1)>", "<ftp://a.com>", "[x](&#106;avascript:alert(1))"]:
        audit = Audit(render(payload))
        assert audit.links == [], payload


def test_raw_html_shows_as_the_text_it_is() -> None:
    assert render("<b>bold?</b>") == "<p>&lt;b&gt;bold?&lt;/b&gt;</p>"
    assert render("<script>alert(1)</script>") == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert render("<!-- x -->") == "<p>&lt;!-- x --&gt;</p>"
    assert render("a <br> b") == "<p>a &lt;br&gt; b</p>"


LINK = f'target="_blank" rel="{LINK_REL}"'


@pytest.mark.parametrize(("body", "html"), [
    ("**bold** and __bold__", "<p><strong>bold</strong> and <strong>bold</strong></p>"),
    ("*italic* and _italic_", "<p><em>italic</em> and <em>italic</em></p>"),
    ("~~gone~~", "<p><del>gone</del></p>"),
    ("`a < b`", "<p><code>a &lt; b</code></p>"),
    ("```python\nif a < b:\n    pass\n```", "<pre><code>if a &lt; b:\n    pass\n</code></pre>"),
    ("    indented code", "<pre><code>indented code\n</code></pre>"),
    ("> quoted\n> twice", "<blockquote>\n<p>quoted<br>\ntwice</p>\n</blockquote>"),
    ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
    ("* one\n+ two", "<ul>\n<li>one</li>\n</ul>\n<ul>\n<li>two</li>\n</ul>"),
    ("1. one\n2. two", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>"),
    ("3. third", '<ol start="3">\n<li>third</li>\n</ol>'),
    ("line one\nline two", "<p>line one<br>\nline two</p>"),
    ("para one\n\npara two", "<p>para one</p>\n<p>para two</p>"),
    ("[docs](https://example.com/a?b=1&c=2)", f'<p><a href="https://example.com/a?b=1&amp;c=2" {LINK}>docs</a></p>'),
    ("[mail me](mailto:a@example.com)", f'<p><a href="mailto:a@example.com" {LINK}>mail me</a></p>'),
    ("see https://example.com/x.", f'<p>see <a href="https://example.com/x" {LINK}>https://example.com/x</a>.</p>'),
    ("<https://example.com>", f'<p><a href="https://example.com" {LINK}>https://example.com</a></p>'),
    ("example.com", f'<p><a href="http://example.com" {LINK}>example.com</a></p>'),
    ("www.python.org/doc", f'<p><a href="http://www.python.org/doc" {LINK}>www.python.org/doc</a></p>'),
    ("bob@example.org", f'<p><a href="mailto:bob@example.org" {LINK}>bob@example.org</a></p>'),
    ("**https://example.com**", f'<p><strong><a href="https://example.com" {LINK}>https://example.com</a></strong></p>'),
    ("a\\*b\\*", "<p>a*b*</p>"),
    ("it's \"quoted\" & fine", "<p>it's \"quoted\" &amp; fine</p>"),
    ("", ""),
    ("   ", ""),
])
def test_the_chat_subset_of_markdown(body: str, html: str) -> None:
    assert render(body) == html


@pytest.mark.parametrize(("body", "html"), [
    ("# not a heading", "<p># not a heading</p>"),
    ("#general is quiet", "<p>#general is quiet</p>"),
    ("---", "<p>---</p>"),
    ("***", "<p>***</p>"),
    ("title\n===", "<p>title<br>\n===</p>"),
    ("| a | b |\n|---|---|\n| 1 | 2 |", "<p>| a | b |<br>\n|---|---|<br>\n| 1 | 2 |</p>"),
    ("[1]: see above", "<p>[1]: see above</p>"),
    ("README.md, setup.py and main.rs", "<p>README.md, setup.py and main.rs</p>"),
    ("![cat](https://example.com/cat.png)",
     f'<p>!<a href="https://example.com/cat.png" {LINK}>cat</a></p>'),
])
def test_syntax_chat_people_type_as_text_stays_text(body: str, html: str) -> None:
    assert render(body) == html


PLAIN_CHAT = [
    "hello there how are you", "ok", "a", "I'm fine, thanks! And you?", "Sure. See you at five.",
    "wait...", "Really?! No way...", "naïve café, crème brûlée", "東京で会議があります。", "Привет, как дела?",
    "مرحبا كيف حالك", "שלום", "😀👍🏽 🇫🇷", "it costs $5 (or so); fine", "about 50% off = cheap", "a - b + c",
    "#general is quiet", "yes: no", "note: bring snacks", "x^2 {braces} | pipes", "localhost is up",
    "mailto the team", "http is old", "https or http", "the ellipsis… and em dash — ok",
    "tabs\u3000ideographic space", "non\u00a0breaking", "zero\u200bwidth", "bom\ufeffhere", "a\u2028b",
    "combining e\u0301", "C1 \x85 \x9f controls", "\ufffd replacement", "\U0001f600" * 100,
    "end with a dot.", "dots . in . the . middle", "in 1st place", "A1 sauce", "(1) one",
]


@pytest.mark.parametrize("body", PLAIN_CHAT + list(PLAIN.values()))
def test_plain_chat_skips_the_parser_with_the_same_bytes(body: str) -> None:
    assert is_plain(body), body
    assert render(body) == render_markdown(body)
    assert render(body) == "<p>" + body.replace("\u00a0", "&nbsp;") + "</p>"


@pytest.mark.parametrize("body", [
    "", " leading", "trailing ", "a\nb", "a\tb", "- list", "+ list", "1. list", "1) list", "2024 was",
    "*a*", "a_b_", "~~a~~", "`a`", "\\*", "[a]", "<a>", "a & b", "a/b", "a@b.com", "example.com",
    "e.g. this", "1.2.3", "www.example.com", "a\x00b", "\u00a0padded",
])
def test_text_with_anything_markdown_may_act_on_takes_the_full_path(body: str) -> None:
    assert not is_plain(body)


def test_the_fast_path_agrees_with_the_full_path_on_generated_text() -> None:
    rng = random.Random(13)
    text = "abcdefghij ABC xyz 0123456789 .,;:!?'\"()#$%^={}|-+ \u00a0\u3000\u2028\ufeff\u0301\x85\x7fé東😀"
    syntax = "*_~`\\[]<>&/@\t\n\r"
    fast = 0
    for i in range(6000):
        alphabet = text + syntax if i % 4 == 0 else text
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        if is_plain(body):
            fast += 1
            assert render(body) == render_markdown(body), repr(body)
    assert fast > 1500  # the check ran on plenty of text the fast path took


def test_the_same_body_is_rendered_once() -> None:
    for body in ["**cached** " + str(random.random()), "*long* " * 200 + str(random.random())]:
        first = render(body)
        assert render(body) is first


def test_broken_unicode_and_control_characters_do_not_break_rendering() -> None:
    assert render("a\ud800b") == "<p>a\ufffdb</p>"
    assert render("**a\udfff**") == "<p><strong>a\ufffd</strong></p>"
    assert render("a\x00b") == "<p>a\ufffdb</p>"
    assert render("a\r\nb\rc") == "<p>a<br>\nb<br>\nc</p>"


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_hostile_inputs_render_bounded(name: str) -> None:
    body = PATHOLOGICAL[name]
    html = render(body)
    audit = Audit(html)
    assert audit.problems == []
    assert len(html) <= 20 * len(body) + 100
    assert audit.max_depth <= 25  # nesting is cut (formatting.BLOCK_NESTING), never recursed on


def test_nesting_past_the_bound_is_cut_not_followed() -> None:
    assert Audit(render("> " * 1999 + "x")).max_depth <= formatting.BLOCK_NESTING
    assert Audit(render("- " * 1999 + "x")).max_depth <= formatting.BLOCK_NESTING
    assert "<em>" not in render("*" * 4000) and "<a " not in render("[" * 4000)
    quoted = Audit(render("> " * 12 + "twelve deep"))
    assert quoted.tags.count("blockquote") == 12  # what people do nest is kept


def test_the_bounded_linkify_rule_links_as_markdown_its_own_does() -> None:
    stock = formatting._parser()
    stock.inline.ruler.at("linkify", rules_inline.linkify)
    for body in ["see http://a.com", "xhttp://a.com", "9http://a.com", "(https://a.com)", "HTTP://A.COM",
                 "mailto://x", "ftp://a.com", "**http://a.com**", "http://a.com*", "_http://a.com_",
                 "a" * 40 + " http://a.com", "a" * 40 + "http://a.com", "a" * 31 + "http://a.com",
                 "a." * 20 + "https://a.com", "-https://a.com", "+https://a.com", ".https://a.com",
                 "[x](http://a.com) http://b.com", "<http://a.com> http://b.com", "http://a.com://b",
                 "https://" * 40, "<http://" * 50, "javascript://a.com/%0aalert(1)"]:
        assert formatting._MD.render(body) == stock.render(body), body


def test_typical_messages_render_with_their_formatting() -> None:
    for body in TYPICAL.values():
        audit = Audit(render(body))
        assert audit.problems == []
        assert set(audit.tags) - {"p", "br"}, body  # each uses some formatting


def test_a_lone_tilde_is_plain_text_and_takes_the_fast_path() -> None:
    # Only "~~" strikes through; "~5 min" skips the parser with the same bytes.
    for body in ("~5 min", "about ~20 people", "~1~2~0~payload", "a ~ b ~ c"):
        assert formatting.is_plain(body), body
        assert formatting.render_markdown(body) == formatting.render(body)
    assert not formatting.is_plain("a ~~gone~~ b")
