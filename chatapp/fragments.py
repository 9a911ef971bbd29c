"""Rendered pieces of the room page, kept: each message's markup, the page's list of them,
each sidebar item's markup, the page's ``<template>``s and its named URLs.

The markup is written once, in the templates (``_message.html``'s ``message`` macro, which
the page's ``<template>`` for live messages also comes from; ``_sidebar.html``'s
``room_item``; ``_room_templates.html``). Rendering a message through its macro costs
~20 us (the macro call and the escaping of each field), a room page shows 50, and everyone
who opens a room renders the same newest 50; a member's sidebar is up to 200 items that
change only with news. So each piece is rendered once and kept, keyed by **everything it
is rendered from**: the whole stored message (body, HTML, edit, reactions, what its reply
quotes), not its id, so an edit, a reaction or a deleted original makes a new key and
nothing is ever stale. Before this, rendering was ~60 % of a room page's time.

Bounded: the least recently used pieces go first; a message whose source and HTML
together pass :data:`MESSAGE_CHARS`, or a list past :data:`PAGE_CHARS`, is put together
each time instead. Typically a few MB; with every kept message as long and as escaped as
allowed, some tens of MB.
"""

from __future__ import annotations

import collections
import functools
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup
from yarl import URL

from .models import Message

MESSAGES = 2048  # rendered messages kept: ~40 rooms' pages, as their authors and as others see them
MESSAGE_CHARS = 1500  # longer (source and HTML together): rendered on every page
PAGES = 16  # whole message lists kept, as most viewers of a busy room see it
PAGE_CHARS = 128_000  # a longer list is put together from its messages each time
SIDEBAR_ITEMS = 4096  # rendered sidebar items kept (a member's sidebar is up to 200)
URLS = 512  # the room page's named URLs (one set per room)
MESSAGE_SEPARATOR = "\n        "  # what room.html's message loop wrote after each message

_PageKey = tuple[tuple[Message, ...], int | None, int | None, int | None]


class Fragments:
    """The pieces one template environment renders, each rendered once per distinct input."""

    def __init__(self, env: jinja2.Environment) -> None:
        self._message_macro = _macro(env, "_message.html", "message")
        self._item_macro = _macro(env, "_sidebar.html", "room_item")
        self._templates_macro = _macro(env, "_room_templates.html", "room_templates")
        self._message = functools.lru_cache(maxsize=MESSAGES)(self._render_message)
        self._pages: collections.OrderedDict[_PageKey, Markup] = collections.OrderedDict()
        self._item = functools.lru_cache(maxsize=SIDEBAR_ITEMS)(self._render_item)
        self._templates = functools.lru_cache(maxsize=4)(self._render_templates)
        self._named_url: Callable[..., URL] = env.globals["url"]  # type: ignore[assignment]
        self._url = functools.lru_cache(maxsize=URLS)(self._named_url)

    # ---- messages

    def messages(self, messages: Sequence[Message], highlight: int | None, me: int | None,
                 first_unread: int | None) -> Markup:
        """The page's messages, each followed by the whitespace room.html always put there.

        The whole list is kept too (the newest 50 of a room change only with news): ``me``
        counts only if they wrote one of them, so everyone else shares one copy."""
        if me is not None and not any(m.member_id == me for m in messages):
            me = None
        key = (tuple(messages), highlight, me, first_unread)
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
            return page
        page = self._render_page(messages, highlight, me, first_unread)
        if len(page) <= PAGE_CHARS:
            self._pages[key] = page
            if len(self._pages) > PAGES:
                self._pages.popitem(last=False)
        return page

    def _render_page(self, messages: Sequence[Message], highlight: int | None, me: int | None,
                     first_unread: int | None) -> Markup:
        kept, render = self._message, self._render_message
        parts = []
        for m in messages:
            # (A message stored before its HTML was, or just edited, renders on reading: its
            # source alone counts towards the limit; its HTML is about as long.)
            long = len(m.body) + len(m.rendered or "") > MESSAGE_CHARS
            parts.append((render if long else kept)(m, m.id == highlight, me is not None and m.member_id == me,
                                                    m.id == first_unread))
            parts.append(MESSAGE_SEPARATOR)
        return Markup("".join(parts))

    def _render_message(self, m: Message, highlight: bool, own: bool, first_unread: bool) -> str:
        # The macro compares ids: these stand-ins give exactly its output for each flag.
        return str(self._message_macro(m, m.id if highlight else None, m.member_id if own else None, m.room,
                                       first_unread=m.id if first_unread else None))

    # ---- the sidebar and the page's <template>s

    def sidebar_items(self, items: Iterable[Any], menu: bool) -> Markup:
        """Sidebar items (``chatapp.attention.views.SidebarItem``); ``menu``: each has its ⋯ button."""
        return Markup("".join([self._item(item, menu) for item in items]))

    def _render_item(self, item: Any, menu: bool) -> str:
        return str(self._item_macro(item, menu))

    def room_templates(self, menu: bool, blank: Any, levels: tuple[tuple[str, str], ...]) -> Markup:
        """The room page's ``<template>``s (``_room_templates.html``): one for guests, one for members."""
        return self._templates(menu, blank, levels)

    def _render_templates(self, menu: bool, blank: Any, levels: tuple[tuple[str, str], ...]) -> Markup:
        return self._templates_macro(menu, blank, levels)

    # ---- URLs

    def url(self, __name: str, query_: Mapping[str, str] | None = None, **parts: str | int) -> URL:
        """The templates' ``url()``, remembered: a room page asks for ~15, the same each time."""
        if query_:
            return self._named_url(__name, query_, **parts)
        return self._url(__name, **parts)


def _macro(env: jinja2.Environment, template: str, name: str) -> Callable[..., Markup]:
    macro: Callable[..., Markup] = getattr(env.get_template(template).module, name)
    return macro


# One per template environment, that is, per app. Made on first use: the factory that
# would register it under an AppKey is not this module's (see chatapp/app.py).
_BY_ENV: weakref.WeakKeyDictionary[jinja2.Environment, Fragments] = weakref.WeakKeyDictionary()


def fragments(request: web.Request) -> Fragments:
    env = aiohttp_jinja2.get_env(request.app)
    found = _BY_ENV.get(env)
    if found is None:
        found = _BY_ENV[env] = Fragments(env)
    return found
