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
from collections.abc import Iterable

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

# What a rendered message may contain. ``ol start`` keeps "3. third" numbered 3.
TAGS = frozenset({"p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a"})
ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow ugc"
LINK_TARGET = "_blank"

# Schemeless links ("example.com") only for these top-level domains. The linkifier's
# default also takes every two-letter country code, which turns file names into links
# (README.md, setup.py, main.rs, run.sh); with a scheme, any domain links.
FUZZY_TLDS = ["com", "org", "net", "edu", "gov", "io", "dev", "info"]

# Deeper quotes and lists than this render their innermost levels as text. markdown-it's
# own default (20) is already safe; chat needs far less, and less is cheaper to render.
MAX_NESTING = 10

# Bodies up to this long are memoised; longer ones are rare and would let a sender fill
# the cache with large strings (4,096 entries of 4,000 characters and their HTML).
CACHE_ENTRIES = 4096
CACHE_MAX_CHARS = 1000


class _ChatMarkdown(MarkdownIt):
    """markdown-it with links limited to :data:`URL_SCHEMES` (its default only bans a few)."""

    def validateLink(self, url: str) -> bool:  # noqa: N802  (markdown-it's name)
        scheme, colon, _ = url.partition(":")
        return bool(colon) and scheme.lower() in URL_SCHEMES


def _strikethrough_is_del(state: StateCore) -> None:
    """``~~x~~`` means deleted text: <del>, not markdown-it's presentational <s>."""
    for block in state.tokens:
        for token in block.children or ():
            if token.type in ("s_open", "s_close"):
                token.tag = "del"


def _parser() -> MarkdownIt:
    md = _ChatMarkdown("commonmark", {"html": False, "breaks": True, "linkify": True,
                                      "typographer": False, "xhtmlOut": False,
                                      "maxNesting": MAX_NESTING})
    md.enable(["strikethrough", "linkify"])
    # Chat people type "#general", "---" and "[1]: see above" as text. Images would
    # fetch from any host the sender names; raw HTML is off twice over.
    md.disable(["heading", "lheading", "hr", "image", "reference", "html_block", "html_inline"])
    md.core.ruler.push("strikethrough_is_del", _strikethrough_is_del)
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


def _sanitise(html: str) -> str:
    return nh3.clean(html, tags=set(TAGS), attributes=ATTRIBUTES, attribute_filter=_href_filter,
                     url_schemes=set(URL_SCHEMES), link_rel=LINK_REL,
                     set_tag_attribute_values={"a": {"target": LINK_TARGET}},
                     strip_comments=True)


def render_markdown(body: str) -> str:
    """The full path: parse, render, sanitise. :func:`render` is the one to call."""
    return _sanitise(_MD.render(body)).rstrip("\n")


# Characters that can start Markdown syntax anywhere in a line, need escaping, or begin a
# link ("//", "@"): a body with any of them takes the full path. Line breaks and other
# control characters do too, since the parser normalises them.
_SYNTAX = frozenset("*_~`\\[]<>&/@") | frozenset(map(chr, range(0x20)))
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
    if not _SYNTAX.isdisjoint(body):
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


@functools.lru_cache(maxsize=CACHE_ENTRIES)
def _render_cached(body: str) -> str:
    return _render(body)


def _render(body: str) -> str:
    body = _valid_text(body)
    return _plain(body) if is_plain(body) else render_markdown(body)


def render(body: str) -> str:
    """A message body as safe HTML: the allowed tags only, links http(s)/mailto only,
    each with ``rel="noopener noreferrer nofollow ugc"`` and ``target="_blank"``."""
    if len(body) <= CACHE_MAX_CHARS:
        return _render_cached(body)
    return _render(body)


def allowed(tags: Iterable[str]) -> bool:
    """Whether every tag name in ``tags`` is one a rendered message may contain."""
    return TAGS.issuperset(tags)
