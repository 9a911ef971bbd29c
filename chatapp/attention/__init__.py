"""Attention: a sidebar of one's rooms and DMs, unread counts, mentions and who to notify.

- :mod:`.service`: the one object behind it (``ATTENTION``): the publish hook, and what
  sockets hear about rooms they are not on;
- :mod:`.watchers`: the in-memory index of who hears about which room;
- :mod:`.audiences`: who may hear about a private room or DM (its members, never a sidebar);
- :mod:`.notifying`: whom ``NOTIFY`` is asked to tell about a message, and why;
- :mod:`.reads`: read positions, kept in memory and written in batches;
- :mod:`.mentions`: ``@name`` and ``@here``, recorded one write per batch;
- :mod:`.levels`: per-room notification levels ("all", "mentions", "nothing");
- :mod:`.views`: the sidebar on room pages, ``/mentions``, and the level and sidebar forms.

The SQL is in :mod:`chatapp.storage.sqlite.attention`; the wire contract is in
docs/protocol.md ("Attention: sidebar, unread and mentions").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from ..keys import HUB, SETTINGS, STORE
from ..writer import Publish, Stored
from .reads import flushing
from .service import ATTENTION, Attention

log = logging.getLogger(__name__)

RECORDER_DRAIN = 5.0  # seconds the mentions still queued at shutdown may take to be recorded


def watched_publish(app: web.Application, publish: Publish) -> Publish:
    """The batch writer's publish callback: ``publish`` (the hub and what it wraps), then
    attention, which only ever enqueues."""

    def both(batch: Sequence[Stored]) -> None:
        publish(batch)
        attention = app.get(ATTENTION)
        if attention is not None:
            attention.observe(batch)

    return both


async def attending(app: web.Application) -> AsyncIterator[None]:
    """Start-up: the levels people chose and the newest id, then the mention recorder and the
    read-position flusher; at shutdown both finish their work before the database closes."""
    store = app[STORE]
    attention = Attention(app, store, app[SETTINGS].here_interval)
    attention.levels.load(await store.chosen_levels())
    attention.newest = await store.newest_id()
    app[ATTENTION] = attention
    observers = getattr(app[HUB], "observers", None)  # a cluster node's hub: others' messages too
    if observers is not None:
        observers.append(attention.observe_elsewhere)
    recorder = asyncio.create_task(attention.recorder.run(), name="chatapp-mentions")
    try:
        async with flushing(attention.reads):
            yield
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RECORDER_DRAIN):
                    await attention.recorder.drain()
    finally:
        recorder.cancel()
        await attention.close()
        with contextlib.suppress(BaseException):
            await recorder


def setup_attention(app: web.Application) -> None:
    """The start-up step; after the database's, the accounts' and the privacy's cleanup contexts."""
    app.cleanup_ctx.append(attending)


__all__ = ["ATTENTION", "Attention", "setup_attention", "watched_publish"]
