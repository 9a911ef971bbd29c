"""Bots: accounts of their own kind that post from scripts and answer from webhooks.

- :mod:`.tokens`: the bearer tokens (shown once, stored as a hash, compared in constant time);
- :mod:`.manage`: the rules for making and changing bots, shared by the admin and the CLI;
- :mod:`.directory`: the bots kept in memory, their names kept from guests, and which
  rooms a bot may use;
- :mod:`.posting`: every check a bot's message goes through, and the call to the writer;
- :mod:`.api`: ``POST /api/rooms/<room>/messages`` with ``Authorization: Bearer``;
- :mod:`.webhooks`: calling a bot's webhook when it is mentioned, and posting its reply;
- :mod:`.guard`: the addresses a webhook may not call (server-side request forgery);
- :mod:`.admin`: ``/admin/bots``; :mod:`.cli`: ``chatapp bots`` and ``chatapp post``.

docs/bots.md is the guide.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from ..keys import HUB
from ..writer import Publish, Stored
from .directory import BOTS, BotDirectory, keep_loaded
from .posting import setup_limits
from .webhooks import DISPATCHER, Dispatcher, dispatching


def observed_publish(app: web.Application) -> Publish:
    """The batch writer's publish callback: the hub first (people see the message at once),
    then the webhook observer, which only ever enqueues."""
    hub_publish = app[HUB].publish
    observe = app[DISPATCHER].observe

    def publish(batch: Sequence[Stored]) -> None:
        hub_publish(batch)
        observe(batch)

    return publish


def setup_bots(app: web.Application) -> None:
    """Keys and start-up steps; after the database's and the accounts' cleanup contexts."""
    app[BOTS] = BotDirectory()
    app[DISPATCHER] = Dispatcher(app)
    setup_limits(app)
    app.cleanup_ctx.append(keep_loaded)
    app.cleanup_ctx.append(dispatching)


__all__ = ["BOTS", "DISPATCHER", "observed_publish", "setup_bots"]
