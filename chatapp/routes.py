"""The URL table: every route the main app serves, by name (the admin sub-application's
are in :mod:`chatapp.admin`, mounted at ``/admin``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

from aiohttp import web
from yarl import URL

from . import api, archive, files, search, views, ws
from .attention import views as attention_views
from .bots import api as bots_api
from .push import api as push_api
from .resources import resource_dir

URLS = 1024  # named URLs remembered: a few per room, for the rooms recently shown


def asset_urls(app: web.Application) -> Callable[[str], str]:
    """``asset('app.css')`` for templates: the versioned static URL, computed once per file.

    aiohttp hashes the file on every ``url_for`` with ``append_version``; four of those per
    page were ~15% of rendering a room. Static files do not change while the server runs.
    """
    @functools.cache
    def asset(filename: str) -> str:
        return str(app.router["static"].url_for(filename=filename))
    return asset


def named_urls(*apps: web.Application) -> Callable[..., URL]:
    """``url('name', **parts)`` for templates, finding the name in ``apps`` in turn.

    aiohttp_jinja2's own ``url`` looks only in the main app's router, but a
    sub-application's named routes (the admin's) live in its own router, with the
    prefix it is mounted at already applied.

    Remembered (but for a query): building one is ~3 us, a room page asks for ~15, the same
    each time, and the routers do not change once the app runs.
    """
    @functools.lru_cache(maxsize=URLS)
    def named(__name: str, **parts: str | int) -> URL:
        for app in apps:
            if __name in app.router:
                return app.router[__name].url_for(**{k: str(v) for k, v in parts.items()})
        raise KeyError(f"no route named {__name!r}")

    def url(__name: str, query_: Mapping[str, str] | None = None, **parts: str | int) -> URL:
        found = named(__name, **parts)
        return found.with_query(query_) if query_ else found
    return url


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", views.index, name="index")
    app.router.add_get("/enter", views.enter_room, name="enter")
    app.router.add_get("/rooms/{room}", views.room_page, name="room")
    app.router.add_get("/ws/{room}", ws.websocket, name="ws")
    app.router.add_get("/api/rooms/{room}/messages", api.history, name="history")
    app.router.add_post("/api/rooms/{room}/messages", bots_api.post_message, name="bot_post")  # Bearer token
    app.router.add_get("/api/rooms/{room}/export", archive.export_room, name="export")
    app.router.add_get("/search", search.search_page, name="search")
    app.router.add_get("/mentions", attention_views.mentions_page, name="mentions")
    app.router.add_post("/rooms/{room}/notifications", attention_views.set_level, name="room_notifications")
    app.router.add_post("/rooms/{room}/sidebar/leave", attention_views.leave_sidebar, name="sidebar_leave")
    app.router.add_get("/api/search", search.api_search, name="api_search")
    app.router.add_get("/healthz", api.healthz, name="healthz")
    app.router.add_post("/api/rooms/{room}/files", files.upload, name="upload")
    app.router.add_get("/files/{id}/thumb", files.thumbnail, name="file_thumb")  # before {name}
    app.router.add_get("/files/{id}/{name}", files.download, name="file")
    files.setup_uploads(app)  # the upload limits' state
    app.router.add_get("/api/push/key", push_api.vapid_key, name="push_key")
    app.router.add_post("/api/push/subscriptions", push_api.subscribe, name="push_subscribe")
    app.router.add_post("/api/push/subscriptions/delete", push_api.unsubscribe, name="push_unsubscribe")
    app.router.add_get("/sw.js", push_api.service_worker, name="service_worker")  # at the root: scope "/"
    app.router.add_static("/static/", resource_dir("static"), name="static", append_version=True)
