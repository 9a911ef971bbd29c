"""The application factory: synchronous, no I/O; it wires keys, templates, routes and hooks.

The database is opened, migrated and closed by :func:`database` (a cleanup context), and
shutdown commits everything accepted before it closes sockets with 1001.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp_jinja2
import jinja2
from aiohttp import web

from . import descriptors
from .accounts import setup_accounts, viewer
from .admin import setup_admin
from .attention import setup_attention, watched_publish
from .bots import observed_publish, setup_bots
from .cluster.setup import make_hub, setup_cluster
from .fragments import setup_fragments
from .keys import HUB, SENDERS, SETTINGS, STORE, WRITER
from .middlewares import errors, known_host, security_headers
from .privacy import setup_privacy
from .private_rooms import setup_private_rooms
from .push import setup_push
from .ratelimit import PerAddress
from .resources import resource_dir
from .retention import setup_retention
from .rooms import RoomState
from .routes import asset_urls, named_urls, setup_routes
from .search import setup_search
from .sessions import setup_sessions
from .settings import Settings
from .storage import open_storage
from .throttle import LOGIN_THROTTLE, LoginThrottle
from .writer import BatchWriter, StorageCeiling

log = logging.getLogger(__name__)


async def database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    storage = await open_storage(settings.storage_target, synchronous=settings.synchronous.upper(),
                                 busy_timeout_ms=int(settings.busy_timeout * 1000))
    app[STORE] = storage
    ceiling = StorageCeiling(storage, settings.max_db_mb, settings.min_free_mb)
    room_limit = PerAddress(settings.room_rate / 60, settings.room_burst)
    # The hub, the bots' webhooks, then attention (activity, mentions, NOTIFY): none of them awaits.
    publish = watched_publish(app, observed_publish(app))
    writer = BatchWriter(storage, publish, RoomState(await storage.locked_rooms()), ceiling, room_limit)
    writer.start()
    app[WRITER] = writer
    log.info("database %s ready", settings.storage_label)
    try:
        yield
    finally:
        await writer.close()
        await storage.close()
        log.info("database closed")


async def on_shutdown(app: web.Application) -> None:
    """Commit and deliver every accepted message, then close every socket with 1001."""
    if WRITER in app:
        await app[WRITER].close()
    await app[HUB].close_all(timeout=app[SETTINGS].shutdown_timeout / 2)


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings()
    app = web.Application(middlewares=[errors, known_host], client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app[HUB] = make_hub(settings)  # a cluster node's hub delivers what its log follower reads
    app[SENDERS] = PerAddress(settings.address_rate, settings.address_burst)
    app[LOGIN_THROTTLE] = LoginThrottle()
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        # Templates ship with the code: no stat() of every template on every render.
        auto_reload=False,
    )
    app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(descriptors.watch)
    app.on_shutdown.append(on_shutdown)
    app.on_response_prepare.append(security_headers)
    setup_sessions(app)
    setup_accounts(app)
    setup_privacy(app)
    admin = setup_admin(app)
    setup_search(app)
    setup_retention(app)
    setup_routes(app)
    setup_private_rooms(app)
    setup_bots(app)
    setup_attention(app)  # sidebars, unread, mentions; decides whom NOTIFY tells
    setup_push(app)  # the real NOTIFY: Web Push (chatapp.push)
    setup_cluster(app)  # last: on PostgreSQL, follow the shared log once every cache is loaded
    env = aiohttp_jinja2.get_env(app)
    env.globals["asset"] = asset_urls(app)
    env.globals["viewer"] = viewer  # the member looking at the page, or None
    env.globals["url"] = named_urls(app, admin)  # names from both routers, in either app's pages
    setup_fragments(app)  # the room page's kept pieces, made at start-up from these templates
    return app
