"""Wiring a node into a cluster: the hub it uses, and the follower and presence it runs.

Only when ``database_url`` is set (PostgreSQL): on SQLite, :func:`make_hub` gives the plain
:class:`chatapp.hub.Hub` and :func:`setup_cluster` adds nothing, so one machine keeps its
fast path exactly as it was (the writer publishes straight to the hub).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from ..hub import Hub
from ..keys import HUB, SETTINGS, STORE, WRITER
from ..models import RoomEvent
from ..privacy import PRIVATE_ROOMS
from ..settings import Settings
from . import events
from .follower import LogFollower
from .hub import FollowedHub
from .node import CLUSTER, NODE_KINDS, Cluster, shared_log

if TYPE_CHECKING:
    from .presence import RedisPresence

log = logging.getLogger(__name__)


def clustered(settings: Settings) -> bool:
    return bool(settings.database_url)


def make_hub(settings: Settings) -> Hub:
    return FollowedHub(NODE_KINDS) if clustered(settings) else Hub()


async def _sync_state(app: web.Application) -> None:
    """Re-read what other nodes may have changed between loading it and following the log:
    after this, the follower's events keep it current."""
    store = app[STORE]
    app[WRITER].rooms.sync_locked(await store.locked_rooms())
    app[PRIVATE_ROOMS].load(await store.non_public_rooms())


async def following(app: web.Application) -> AsyncIterator[None]:
    """Follow the log (and share presence over Redis, if configured) while the node serves."""
    settings, hub = app[SETTINGS], app[HUB]
    assert isinstance(hub, FollowedHub)
    shared = shared_log(app[STORE])
    follower = LogFollower(shared, hub.deliver)
    cluster = app[CLUSTER] = Cluster(shared, follower)

    def on_node_event(event: RoomEvent) -> None:
        events.apply(app, event)

    hub.on_node_event = on_node_event
    hub.follower = follower
    await follower.start()
    await _sync_state(app)
    presence: RedisPresence | None = None
    if settings.redis_url:
        # Imported only here: the Redis client costs ~6 MiB that a node without Redis, and
        # every single-machine server, never needs.
        from .presence import RedisPresence, node_id

        presence = RedisPresence(hub, settings.redis_url, node_id(settings.port))
        presence.start()
        log.info("presence across nodes over Redis as node %s", presence.node)
    else:
        log.info("no redis_url: presence and typing are per node")
    try:
        yield
    finally:
        if presence is not None:
            await presence.close()
        await cluster.follower.close()


def setup_cluster(app: web.Application) -> None:
    """The follower's start-up step, last (after every cache it keeps current is loaded)."""
    if clustered(app[SETTINGS]):
        app.cleanup_ctx.append(following)
    elif app[SETTINGS].redis_url:
        log.warning("redis_url is used only with database_url; ignored")
