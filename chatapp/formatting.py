"""The one message renderer: a chat message's plain-text body as safe HTML for display.

The stored body stays the source (search indexes it, exports carry it); :func:`render`
only decides how it looks. markdown-it-py parses a chat-sized subset of Markdown (code,
bold, italic, strikethrough, quotes, lists, links, and a newline is a line break) with
raw HTML off, and nh3 sanitises what comes out against an allow-list, so neither is
trusted alone: a renderer bug still meets the sanitiser, and the sanitiser never sees
anything the parser was not meant to make.

Most chat lines use no Markdown at all, so :func:`render` first looks for any character
the parser or the linkifier could act on; a body with none skips both and is escaped
directly, to exactly the bytes the full path would give (a test holds the two together).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline.linkify import SCHEME_RE
from markdown_it.token import Token

# What a rendered message may contain. ``ol start`` keeps "3. third" numbered 3; the
# empty "*" entry replaces nh3's default attributes for every tag (lang, title).
TAGS = frozenset({"p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a",
                  "span"})
# <span class="mention"> (and no other class, nor any other span attribute): see _mention.
CLASSES: dict[str, set[str]] = {"span": {"mention"}}
ATTRIBUTES: dict[str, set[str]] = {"*": set(), "a": {"href"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow ugc"
LINK_TARGET = "_blank"

# "@name" as people type a member's name: letters, digits and "_-.'" (a last "." or "'" is
# punctuation, not name), or any name in double quotes, @"Mary Ann". Never right after a
# letter, digit or "@", so an e-mail address mentions nobody. Whose name it is, if anyone's,
# is chatapp.attention's question (an "_" may stand for a space); here it is only shown.
MENTION = re.compile(r"""(?<![\w@])@(?:"([^"\n]{1,32})"|(\w(?:[\w.'-]{0,30}[\w-])?))""")


_MENTION_SPAN = re.compile(r'<span class="mention">@(.*?)</span>')


def mention_names(body: str) -> list[str]:
    """The names ``body`` mentions as it is shown (so not in code), quotes taken off, in order.

    Read from the rendering (memoised, and made for the chat frame anyway), so what counts
    as a mention is exactly what people see highlighted."""
    if "@" not in body:
        return []
    names = []
    for shown in _MENTION_SPAN.findall(render(body)):
        name = html.unescape(shown)
        names.append(name[1:-1] if name.startswith('"') else name)
    return names

# Schemeless links ("example.com") only for these top-level domains. The linkifier's
# default also takes every two-letter country code, which turns file names into links
# (README.md, setup.py, main.rs, run.sh); with a scheme, any domain links.
FUZZY_TLDS = ["com", "org", "net", "edu", "gov", "io", "dev", "info"]

# markdown-it has one bound for nested blocks and nested inline markup, but they differ.
# Past the bound, a block's content is dropped, while inline markup merely stays text; and
# the inline bound multiplies the work on "[[[[...": each "[" looks ahead through that
# many levels of would-be links (4,000 of them: 39 ms at 20, 24 ms at 8). So blocks keep
# markdown-it's default (about 19 quotes or 9 lists deep) and inline markup gets less:
# a link in bold in italics in strikethrough is 4.
BLOCK_NESTING = 20
INLINE_NESTING = 8
# A scheme ("https") is a short word right before "://"; see _linkify_scheme.
SCHEME_LOOKBACK = 32

# Rendering is memoised: a room page renders its recent history on every load. HTML can be
# 18 times the body ("x.io" over and over), so long bodies get a small cache of their own
# and the most a flood of distinct messages can make them hold is ~45 MB, not ~300 MB.
SHORT_BODY = 500  # characters; most chat messages are far shorter
SHORT_ENTRIES = 4096
LONG_ENTRIES = 64


class _ChatMarkdown(MarkdownIt):
    """markdown-it with links limited to :data:`URL_SCHEMES` (its default only bans a few)."""

    def validateLink(self, url: str) -> bool:  # markdown-it calls it by this name
        scheme, colon, _ = url.partition(":")
        return bool(colon) and scheme.lower() in URL_SCHEMES


def _strikethrough_is_del(state: StateCore) -> None:
    """``~~x~~`` means deleted text: <del>, not markdown-it's presentational <s>."""
    for block in state.tokens:
        for token in block.children or ():
            if token.type in ("s_open", "s_close"):
                token.tag = "del"


def _nesting(levels: int) -> Callable[[StateCore], None]:
    def set_nesting(state: StateCore) -> None:
        state.md.options.maxNesting = levels
    return set_nesting


def _linkify_scheme(state: StateInline, silent: bool) -> bool:
    """markdown-it's inline ``linkify`` rule, looking back only :data:`SCHEME_LOOKBACK`
    characters for the scheme before "://".

    Its own rule searches all the text pending since the last token for the scheme, on
    every "://": "<http://" 500 times over took 45 ms, quadratic. A longer run of
    scheme characters is no scheme linkify-it knows, so the answer is the same.
    """
    pos = state.pos
    if state.linkLevel > 0 or not state.src.startswith("://", pos, state.posMax) or state.md.linkify is None:
        return False
    pending = state.pending
    tail = pending[-SCHEME_LOOKBACK:]
    found = SCHEME_RE.search(tail)
    if found is None or (found.start(1) == 0 and len(tail) < len(pending)):
        return False  # none, or a run of scheme characters longer than any scheme
    proto = found.group(1)
    link = state.md.linkify.match_at_start(state.src[pos - len(proto):])
    if not link:
        return False
    url: str = link.url.rstrip("*")  # a trailing "*" closes emphasis (as markdown-it does)
    full_url = state.md.normalizeLink(url)
    if not state.md.validateLink(full_url):
        return False
    if not silent:
        state.pending = pending[:-len(proto)]
        token = state.push("link_open", "a", 1)
        token.attrs = {"href": full_url}
        token.markup, token.info = "linkify", "auto"
        token = state.push("text", "", 0)
        token.content = state.md.normalizeLinkText(url)
        token = state.push("link_close", "a", -1)
        token.markup, token.info = "linkify", "auto"
    state.pos += len(url) - len(proto)
    return True


def _mention(state: StateInline, silent: bool) -> bool:
    """``@name`` as one ``mention`` token (never linkified), drawn as <span class="mention">."""
    if state.src[state.pos] != "@":
        return False
    found = MENTION.match(state.src, state.pos, state.posMax)
    if found is None:
        return False
    if not silent:
        token = state.push("mention", "span", 0)
        token.content = found.group(0)
    state.pos = found.end()
    return True


def _render_mention(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return '<span class="mention">' + escapeHtml(tokens[idx].content) + "</span>"


def _parser() -> MarkdownIt:
    md = _ChatMarkdown("commonmark", {"html": False, "breaks": True, "linkify": True,
                                      "typographer": False, "xhtmlOut": False,
                                      "maxNesting": BLOCK_NESTING})
    md.enable(["strikethrough", "linkify"])
    # Chat people type "#general", "---" and "[1]: see above" as text. Images would
    # fetch from any host the sender names; raw HTML is off twice over. Entities stay as
    # typed: "&amp;" in a message shows "&amp;", as it did before formatting existed.
    md.disable(["heading", "lheading", "hr", "image", "reference", "html_block", "html_inline", "entity"])
    md.core.ruler.before("block", "block_nesting", _nesting(BLOCK_NESTING))
    md.core.ruler.before("inline", "inline_nesting", _nesting(INLINE_NESTING))
    md.core.ruler.push("strikethrough_is_del", _strikethrough_is_del)
    md.inline.ruler.at("linkify", _linkify_scheme)
    md.inline.ruler.before("emphasis", "mention", _mention)
    md.add_render_rule("mention", _render_mention)
    assert md.linkify is not None  # the [linkify] extra is a dependency
    md.linkify.set({"fuzzy_link": True, "fuzzy_email": True, "fuzzy_ip": False})
    md.linkify.tlds(FUZZY_TLDS)
    return md


_MD = _parser()


def _href_filter(tag: str, attribute: str, value: str) -> str | None:
    """Second line behind validateLink: nh3 keeps relative URLs, a message never needs one."""
    if attribute == "href":
        scheme, colon, _ = value.partition(":")
        return value if colon and scheme.lower() in URL_SCHEMES else None
    return value


_SANITISER = nh3.Cleaner(tags=set(TAGS), attributes=ATTRIBUTES, allowed_classes=CLASSES,
                         attribute_filter=_href_filter, url_schemes=set(URL_SCHEMES), link_rel=LINK_REL,
                         set_tag_attribute_values={"a": {"target": LINK_TARGET}}, strip_comments=True)


def render_markdown(body: str) -> str:
    """The full path: parse, render, sanitise. :func:`render` is the one to call."""
    return _SANITISER.clean(_MD.render(body)).rstrip("\n")


# Characters that can start Markdown syntax anywhere in a line, need escaping, or begin a
# link ("//", "@"): a body with any of them takes the full path. Line breaks and other
# control characters do too, since the parser normalises them.
# "~" only strikes through doubled ("~~"), which is_plain checks apart: a lone tilde
# ("~5 min", "~/notes") is text.
_SYNTAX = frozenset("*_`\\[]<>&/@") | frozenset(map(chr, range(0x20)))
# Only at the start of the (single) line: list markers ("- ", "+ ", "1. ", "1) ").
_LINE_START = frozenset("-+0123456789")


def is_plain(body: str) -> bool:
    """Whether ``body`` certainly renders as one paragraph of its own text, escaped.

    Conservative: False only costs the full path. Beyond :data:`_SYNTAX`, a "." may
    begin a schemeless link ("example.com", "1.2.3.4") unless a space, another "." or
    the end follows it; and the parser trims a paragraph, so white space at either end
    is left to it.
    """
    if not body or body[0] in _LINE_START or body[0].isspace() or body[-1].isspace():
        return False
    if not _SYNTAX.isdisjoint(body) or "~~" in body:
        return False
    at = body.find(".")
    while at != -1:
        if body[at + 1:at + 2] not in ("", " ", "."):
            return False
        at = body.find(".", at + 1)
    return True


def _plain(body: str) -> str:
    # What nh3 (html5ever) writes for text holding none of & < >: itself, with one entity.
    return "<p>" + body.replace("\u00a0", "&nbsp;") + "</p>"


def _valid_text(body: str) -> str:
    """``body`` with lone surrogates (not Unicode text; nh3 cannot take them) as U+FFFD."""
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in body)
    return body


def _render(body: str) -> str:
    body = _valid_text(body)
    return _plain(body) if is_plain(body) else render_markdown(body)


_render_short = functools.lru_cache(maxsize=SHORT_ENTRIES)(_render)
_render_long = functools.lru_cache(maxsize=LONG_ENTRIES)(_render)


def render(body: str) -> str:
    """A message body as safe HTML: the allowed tags only, links http(s)/mailto only,
    each with ``rel="noopener noreferrer nofollow ugc"`` and ``target="_blank"``."""
    return _render_short(body) if len(body) <= SHORT_BODY else _render_long(body)


def clear_cache() -> None:
    """Forget every rendering (for measuring the renderer itself)."""
    _render_short.cache_clear()
    _render_long.cache_clear()



class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p", "li", "blockquote", "pre"):
            self.parts.append(" ")


@functools.lru_cache(maxsize=1024)
def plain_text(body: str) -> str:
    """A message as one line of the text it shows, without its Markdown (a reply's quote
    of it, a notification): what the renderer makes of it, tags taken away."""
    if is_plain(body):
        return body
    reader = _Text()
    reader.feed(render(body))
    reader.close()
    return " ".join("".join(reader.parts).split())
