"""The real ``NOTIFY``: from "tell these members about this message" to Web Push messages.

:meth:`PushNotifier.notify` runs in the chat writer's publish path, so it does only what
costs no I/O: it leaves out the sender and every member with a socket open (a page of
theirs is there, and shows its own notification: static/room-notifications.js), and puts
the rest into a bounded queue (full: dropped and counted, never waited for).

One task (:meth:`PushNotifier.run`) takes each job and decides, right before sending:

- the member's notification level for the room: ``nothing`` silences everything,
  ``mentions`` lets through mentions, ``@here`` and DMs, ``all`` every message;
- privacy: for a private room or a DM, only its members (an admin who may open a private
  room is not notified of it);
- still no socket open (a tab may have opened meanwhile);
- the member is active and the browser still logged in as them (the storage query).

Then each of their subscriptions gets the message through :class:`~.sender.PushSender`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

from aiohttp import web

from ..hub import Hub
from ..models import Message, utc_now_iso
from ..notify import REASONS
from ..privacy import PRIVATE_ROOMS, is_dm_name
from ..storage import Storage, StorageError
from . import payload
from .sender import Push, PushSender, topic

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000  # messages waiting to be looked at, all rooms together
URGENT = frozenset({"mention", "dm", "here"})
# Which reasons each room level lets through (the levels are chatapp.attention's).
LEVELS: dict[str, frozenset[str]] = {
    "all": frozenset(REASONS),
    "mentions": frozenset({"mention", "dm", "here"}),
    "nothing": frozenset(),
}
DEFAULT_LEVEL = "mentions"


class Job(NamedTuple):
    room: str
    message: Message
    member_ids: frozenset[int]
    reason: str


def allowed(level: str | None, reason: str) -> bool:
    return reason in LEVELS.get(level or DEFAULT_LEVEL, LEVELS[DEFAULT_LEVEL])


class PushNotifier:
    def __init__(self, app: web.Application, hub: Hub) -> None:
        self.app = app
        self.hub = hub
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.dropped = 0  # jobs the full queue turned away, since start
        self.sender: PushSender | None = None  # set at start-up, once the keys are loaded
        self.store: Storage | None = None

    # ---- in the writer's publish path: no awaiting, nothing that can raise ----

    def notify(self, room: str, message: Message, member_ids: set[int], reason: str) -> None:
        try:
            if reason not in REASONS:
                log.warning("notify: unknown reason %r", reason)
                return
            away = frozenset(m for m in member_ids if m != message.member_id and not self.hub.has_member(m))
            if away:
                self.queue.put_nowait(Job(room, message, away, reason))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 100 == 1:
                log.warning("push queue full: %d notifications dropped since start", self.dropped)
        except Exception:  # the writer must never fail for a notification
            log.exception("notify failed")

    # ---- the task that decides and sends ----

    async def run(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                await self.handle(job)
            except StorageError as exc:
                log.warning("push for message #%d skipped: %s", job.message.id, exc)
            except Exception:  # one bad job must not stop the others
                log.exception("push for message #%d failed", job.message.id)
            finally:
                self.queue.task_done()

    async def settled(self) -> None:
        """Wait until every job queued so far is handled and its deliveries are over (for
        tests and for shutdown: a wait on state, never on time)."""
        await self.queue.join()
        if self.sender is not None:
            await self.sender.drained()

    async def handle(self, job: Job) -> None:
        store, sender = self.store, self.sender
        assert store is not None and sender is not None
        ids = await self.may_see(job.room, job.member_ids)
        if ids:
            levels = await store.notification_levels(job.room, ids)
            ids = {m for m in ids if allowed(levels.get(m), job.reason)}
        ids = {m for m in ids if not self.hub.has_member(m)}
        if not ids:
            return
        subscriptions = await store.push_subscriptions(ids, utc_now_iso())
        if not subscriptions:
            return
        body = payload.encoded(job.message, job.reason)
        for sub in subscriptions:
            await sender.send(Push(sub, body, job.reason in URGENT, topic(job.room)))

    async def may_see(self, room: str, member_ids: frozenset[int]) -> set[int]:
        """Those of ``member_ids`` who may read ``room`` now: everyone for a public room; for a
        private room or a DM, its members, as stored right now."""
        visibility = "dm" if is_dm_name(room) else self.app[PRIVATE_ROOMS].visibility(room)
        if visibility == "public":
            return set(member_ids)
        assert self.store is not None
        members = {m.id for m in await self.store.room_members(room)}
        return set(member_ids) & members


PUSH_NOTIFIER = web.AppKey("push_notifier", PushNotifier)
