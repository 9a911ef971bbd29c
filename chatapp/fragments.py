"""Rendered pieces of the room page, kept: each message's markup, the page's list of them,
each sidebar item's markup and the sidebar's list of them, the page's ``<template>``s, and
the rest of the page around them (its *skeleton*); and putting a page together from them.

The markup is written once, in the templates (``_message.html``'s ``message`` macro, which
the page's ``<template>`` for live messages also comes from; ``_sidebar.html``'s
``room_item``; ``_room_templates.html``; ``room.html``). Rendering a message through its
macro costs ~20 us (the macro call and the escaping of each field), a room page shows 50,
and everyone who opens a room renders the same newest 50; a member's sidebar is up to 200
items that change only with news. So each piece is rendered once and kept, keyed by
**everything it is rendered from**: the whole stored message (body, HTML, edit, reactions,
what its reply quotes), not its id alone, so an edit, a reaction or a deleted original makes
a new key and nothing is ever stale. Before this, rendering was ~60 % of a room page's time.

Pieces are :class:`Piece`: markup with its UTF-8 kept beside it. :meth:`Fragments.page`
renders the page's template with a marker in place of each piece, keeps that skeleton
(encoded, keyed by the whole context but the pieces, and by who is looking), and answers
with the skeleton's bytes and the pieces' bytes joined. Joining and encoding an 80 KB page
(UCS-4 as soon as one emoji is on it) was ~10 % of a room page; the skeleton's template
~15 %.

Bounded: the least recently used pieces go first; a message whose source and HTML
together pass :data:`MESSAGE_CHARS`, or a list past :data:`PAGE_CHARS`, is put together
each time instead. Typically a few MB; with every kept message as long and as escaped as
allowed, some tens of MB (a kept list holds its messages' rows too, to compare them).
"""

from __future__ import annotations

import collections
import functools
import secrets
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from .models import Message

MESSAGES = 2048  # rendered messages kept: ~40 rooms' pages, as their authors and as others see them
MESSAGE_CHARS = 1500  # longer (source and HTML together): rendered on every page
PAGES = 16  # whole message lists kept, as most viewers of a busy room see it
PAGE_CHARS = 128_000  # a longer list is put together from its messages each time
SIDEBAR_ITEMS = 4096  # rendered sidebar items kept (a member's sidebar is up to 200)
SIDEBARS = 64  # whole sidebar lists kept (~100 KB for 200 rooms): members seen lately
SKELETONS = 256  # page skeletons kept (~10 KB): one per room, viewer and state seen lately
MESSAGE_SEPARATOR = "\n        "  # what room.html's message loop wrote after each message
# The Jinja globals whose value depends on the request (chatapp/app.py): a kept skeleton
# is keyed by what they return too.
REQUEST_GLOBALS = ("viewer",)

# Stands in for a piece while the skeleton is rendered. It cannot come from a page's own text:
# a NUL, then 64 bits chosen at start-up and never shown (every marker is replaced).
_MARK = f"\x00{secrets.token_hex(8)}"
_MARK_BYTES = _MARK.encode("ascii")
_INDEX_DIGITS = 2  # a marker is _MARK and the piece's index, zero-padded
_MARKERS = tuple(Markup(f"{_MARK}{i:0{_INDEX_DIGITS}d}") for i in range(10 ** _INDEX_DIGITS))

_PageKey = tuple[tuple[int, ...], int | None, int | None, int | None]
_Skeleton = tuple[bytes | int, ...]  # the page's own bytes, and the index of each piece between them


class Piece(Markup):
    """Kept markup with its UTF-8 beside it, encoded once: :meth:`Fragments.page` writes
    these bytes instead of joining and encoding the text again on every request."""

    utf8: bytes

    def __new__(cls, text: str = "") -> Piece:
        piece = super().__new__(cls, text)
        piece.utf8 = text.encode("utf-8")
        return piece


class Fragments:
    """The pieces one template environment renders, each rendered once per distinct input."""

    def __init__(self, env: jinja2.Environment) -> None:
        self._env = env
        self._message_macro = _macro(env, "_message.html", "message")
        self._item_macro = _macro(env, "_sidebar.html", "room_item")
        self._templates_macro = _macro(env, "_room_templates.html", "room_templates")
        self._message = functools.lru_cache(maxsize=MESSAGES)(self._render_message)
        self._pages: collections.OrderedDict[_PageKey, tuple[tuple[Message, ...], Piece]] = \
            collections.OrderedDict()
        self._item = functools.lru_cache(maxsize=SIDEBAR_ITEMS)(self._render_item)
        self._items = functools.lru_cache(maxsize=SIDEBARS)(self._render_items)
        self._templates = functools.lru_cache(maxsize=4)(self._render_templates)
        self._skeletons: dict[Hashable, _Skeleton] = {}
        self._request_globals: list[Callable[..., object]] = [
            g for g in (env.globals.get(name) for name in REQUEST_GLOBALS) if callable(g)]

    # ---- messages

    def messages(self, messages: Sequence[Message], highlight: int | None, me: int | None,
                 first_unread: int | None) -> Piece:
        """The page's messages, each followed by the whitespace room.html always put there.

        The whole list is kept too (the newest 50 of a room change only with news): ``me``
        counts only if they wrote one of them, so everyone else shares one copy. Found by the
        ids, then compared whole: hashing every field of 50 rows just read costs twice that."""
        if me is not None and not any(m.member_id == me for m in messages):
            me = None
        rows = tuple(messages)
        key = (tuple([m.id for m in rows]), highlight, me, first_unread)
        kept = self._pages.get(key)
        if kept is not None and kept[0] == rows:
            self._pages.move_to_end(key)
            return kept[1]
        page = self._render_page(rows, highlight, me, first_unread)
        if len(page) <= PAGE_CHARS:
            self._pages[key] = (rows, page)
            self._pages.move_to_end(key)
            if len(self._pages) > PAGES:
                self._pages.popitem(last=False)
        return page

    def _render_page(self, messages: Sequence[Message], highlight: int | None, me: int | None,
                     first_unread: int | None) -> Piece:
        kept, render = self._message, self._render_message
        parts = []
        for m in messages:
            # (A message stored before its HTML was, or just edited, renders on reading: its
            # source alone counts towards the limit; its HTML is about as long.)
            long = len(m.body) + len(m.rendered or "") > MESSAGE_CHARS
            parts.append((render if long else kept)(m, m.id == highlight, me is not None and m.member_id == me,
                                                    m.id == first_unread))
            parts.append(MESSAGE_SEPARATOR)
        return Piece("".join(parts))

    def _render_message(self, m: Message, highlight: bool, own: bool, first_unread: bool) -> str:
        # The macro compares ids: these stand-ins give exactly its output for each flag.
        return str(self._message_macro(m, m.id if highlight else None, m.member_id if own else None, m.room,
                                       first_unread=m.id if first_unread else None))

    # ---- the sidebar and the page's <template>s

    def sidebar_items(self, items: Iterable[Any], menu: bool) -> Piece:
        """Sidebar items (``chatapp.attention.views.SidebarItem``); ``menu``: each has its ⋯ button."""
        return self._items(tuple(items), menu)

    def _render_items(self, items: tuple[Any, ...], menu: bool) -> Piece:
        return Piece("".join([self._item(item, menu) for item in items]))

    def _render_item(self, item: Any, menu: bool) -> str:
        return str(self._item_macro(item, menu))

    def room_templates(self, menu: bool, blank: Any, levels: tuple[tuple[str, str], ...]) -> Piece:
        """The room page's ``<template>``s (``_room_templates.html``): one for guests, one for members."""
        return self._templates(menu, blank, levels)

    def _render_templates(self, menu: bool, blank: Any, levels: tuple[tuple[str, str], ...]) -> Piece:
        return Piece(self._templates_macro(menu, blank, levels))

    # ---- whole pages

    def page(self, request: web.Request, name: str, context: Mapping[str, Any]) -> web.Response:
        """The template ``name`` rendered with ``context``, as ``aiohttp_jinja2.render_template``
        answers it (the same bytes and headers), the pieces in ``context`` written as kept.

        The template may write a piece (``{{ messages_html }}``) or test it (``{% if %}``: an
        empty piece is not replaced), nothing more: it sees only a marker. A marker changed
        on the way (a filter) leaves a NUL, and the page is rendered plainly instead.
        Call it once access is settled: the skeleton holds whatever the context gave it."""
        processed = request.get(aiohttp_jinja2.REQUEST_CONTEXT_KEY)  # as render_template merges it
        if processed:
            context = {**processed, **context}
        pieces = [value for value in context.values() if type(value) is Piece and value]
        if len(pieces) > len(_MARKERS):
            return _html(self._env.get_template(name).render(context).encode("utf-8"))
        markers = {id(piece): marker for piece, marker in zip(pieces, _MARKERS, strict=False)}
        shown = {k: markers.get(id(v), v) if type(v) is Piece else v for k, v in context.items()}
        try:
            key: Hashable = (name, tuple([g() for g in self._request_globals]),
                             tuple([(k, type(v), _frozen(v)) for k, v in shown.items()]))
            skeleton, keep = self._skeletons.get(key), True
        except TypeError:  # something in the context cannot be a key: rendered every time
            skeleton, keep = None, False
        if skeleton is None:
            skeleton = _split(self._env.get_template(name).render(shown).encode("utf-8"), len(pieces))
            if skeleton is None:  # a marker went missing or astray: no splicing, the plain page
                return _html(self._env.get_template(name).render(context).encode("utf-8"))
            if keep:  # the oldest kept goes first (not the least used: that would hash the key twice)
                self._skeletons[key] = skeleton
                if len(self._skeletons) > SKELETONS:
                    del self._skeletons[next(iter(self._skeletons))]
        return _html(b"".join([part if isinstance(part, bytes) else pieces[part].utf8 for part in skeleton]))


_KEY_TYPES = frozenset({str, Markup, Piece, int, bool, float, type(None)})


def _frozen(value: Any) -> Any:
    """A context value as part of a key: text, numbers, None and tuples (named ones too) as
    they are, lists and dicts as tuples (their items compared with ``==``). Anything else
    raises TypeError, so the page is not kept: an object hashed by identity could change
    under a kept skeleton."""
    kind = type(value)
    if kind in _KEY_TYPES or isinstance(value, tuple):
        return value
    if kind is list:
        return tuple(value)
    if kind is dict:
        return tuple(value.items())
    raise TypeError(f"a {kind.__name__} in a page's context is not part of a key")


def _split(page: bytes, count: int) -> _Skeleton | None:
    """``page`` cut at its markers: its bytes and the piece indices, in order. None if any
    NUL is left (a marker the template changed, say with a filter, or a NUL in the page's
    own text) or a marker names no piece: then the page is rendered plainly instead."""
    chunks = page.split(_MARK_BYTES)
    skeleton: list[bytes | int] = [chunks[0]]
    for chunk in chunks[1:]:
        index = chunk[:_INDEX_DIGITS]
        if not index.isdigit() or int(index) >= count:
            return None
        skeleton += [int(index), chunk[_INDEX_DIGITS:]]
    if any(b"\x00" in part for part in skeleton if type(part) is bytes):
        return None
    return tuple(skeleton)


def _html(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="text/html", charset="utf-8")


def _macro(env: jinja2.Environment, template: str, name: str) -> Callable[..., Markup]:
    macro: Callable[..., Markup] = getattr(env.get_template(template).module, name)
    return macro


FRAGMENTS = web.AppKey("fragments", Fragments)


def setup_fragments(app: web.Application) -> None:
    """One :class:`Fragments` per app, made at start-up: loading its templates is I/O, which
    the factory does not do. After ``aiohttp_jinja2.setup``."""
    async def load(app: web.Application) -> None:
        app[FRAGMENTS] = Fragments(aiohttp_jinja2.get_env(app))
    app.on_startup.append(load)


def fragments(request: web.Request) -> Fragments:
    return request.app[FRAGMENTS]
