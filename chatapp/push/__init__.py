"""Notifications that reach a member with no tab open: Web Push, with VAPID.

- :mod:`.notifier`: the app's ``NOTIFY`` (see :mod:`chatapp.notify`): who of the members a
  message concerns gets a push (levels, privacy, no socket open), through a bounded queue;
- :mod:`.sender`: the deliveries, encrypted for each browser, retried, and what a push
  service's answer does to a subscription;
- :mod:`.payload`: what a push says (title, plain-text excerpt, link to the message);
- :mod:`.subscriptions`: what a browser may subscribe with (the endpoint is a URL the server
  will call: request forgery is checked here and at each delivery);
- :mod:`.vapid`: the server's key pair, kept beside the database, loaded when first needed;
- :mod:`.api`: ``/api/push/...`` and the service worker at ``/sw.js``.

The page's side is static/room-notifications.js (the permission flow, and notifications
while a tab is in the background) and static/sw.js (showing a push, opening its message).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from ..keys import HUB, NOTIFY, SETTINGS, STORE
from . import api, vapid
from .notifier import PUSH_NOTIFIER, PushNotifier
from .sender import PushSender
from .vapid import VAPID_KEYS, LazyVapidKeys

page_context = api.page_context


async def _sending(app: web.Application) -> AsyncIterator[None]:
    """The cleanup context: the HTTP client and the notifier's task (the keys are loaded
    by whichever needs them first: see :class:`.vapid.LazyVapidKeys`)."""
    settings, notifier = app[SETTINGS], app[PUSH_NOTIFIER]
    sender = PushSender(app[STORE], app[VAPID_KEYS], settings.push_allow_private)
    await sender.start()
    notifier.store, notifier.sender = app[STORE], sender
    task = asyncio.create_task(notifier.run(), name="chatapp-push")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sender.close()


def setup_push(app: web.Application) -> None:
    """Install the notifier as ``NOTIFY`` and its start-up step (its routes are in chatapp.routes); after the
    database's cleanup context. A bad ``CHATAPP_VAPID_PRIVATE_KEY`` stops the factory."""
    settings = app[SETTINGS]
    if settings.vapid_private_key:
        vapid.key_from_setting(settings.vapid_private_key)
    app[VAPID_KEYS] = LazyVapidKeys(settings)
    notifier = PushNotifier(app, app[HUB])
    app[PUSH_NOTIFIER] = notifier
    app[NOTIFY] = notifier
    app.cleanup_ctx.append(_sending)


__all__ = ["PUSH_NOTIFIER", "VAPID_KEYS", "page_context", "setup_push"]
