"""The attention service: what a page's one socket hears about the member's other rooms.

- **Publishing** (:meth:`Attention.observe`, in the writer's publish callback, after the
  hub): for each message, one ``activity`` frame, framed once and shared by every socket
  that has the room in its sidebar and is not on it; the sender's own sockets get their
  ``read`` position instead. Mentions (:mod:`.mentions`) are recorded one write a batch
  later, then a second, shared ``activity`` frame with ``"mention": true`` goes to the
  mentioned members. Who is notified beyond the page (``keys.NOTIFY``) is decided here
  too, without awaiting anything.
- **Sockets** (:meth:`join`, :meth:`leave`, :meth:`receive`): a member's socket gets its
  sidebar with counts (one query) and is added to the index (:mod:`.watchers`); a guest's
  page sends ``watch``. ``read`` frames move read positions (:mod:`.reads`).
- **Privacy**: a private room's or DM's audience is its members as read from the database
  (one query per room, on its first message after start and after each change of access,
  which :mod:`chatapp.privacy` marks by the room's *generation*); frames for it reach no
  one else, whatever the sidebars say, and are held while the audience is being read.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from aiohttp import web

from ..accounts import MEMBER_NAMES
from ..connection import Item
from ..hub import Client
from ..keys import HUB
from ..models import Message, dumps, excerpt
from ..privacy import PRIVATE_ROOMS, is_dm_name
from ..protocol import AttentionIn, ReadIn
from ..ratelimit import TokenBucket
from ..storage import Storage, StorageError
from ..storage.records import SidebarRoom
from ..wire import ws_frame
from ..writer import Stored
from .audiences import Audiences
from .levels import Levels, default_level
from .mentions import HereLimit, Mentioning, MentionRecorder, named_members
from .notifying import Notifications
from .reads import ReadPositions
from .watchers import Watchers

log = logging.getLogger(__name__)

SIDEBAR_LIMIT = 200  # rooms in a sidebar: the most recently active
COUNT_LIMIT = 100  # unread and mention counts stop here; pages show "99+"
RECENT = 4096  # activity frames kept to replay to a socket whose sidebar was being read
WATCH_RATE, WATCH_BURST = 0.5, 5  # watch frames one guest socket may send (each costs a query)

# What a socket handler calls to answer a frame with an error (ws._refuse, bound to the socket).
Refuse = Callable[..., None]


def sidebar_entry(r: SidebarRoom) -> dict[str, Any]:
    """One room of a ``sidebar`` frame (docs/protocol.md), as room pages start from it too."""
    entry: dict[str, Any] = {"room": r.room, "visibility": r.visibility, "last_read": r.last_read,
                             "latest": r.latest, "unread": r.unread, "mentions": r.mentions,
                             "level": r.level or default_level(r.visibility)}
    if r.other is not None:
        entry["other"] = r.other
    return entry


class Attention:
    def __init__(self, app: web.Application, store: Storage, here_interval: float) -> None:
        self._app = app
        self._store = store
        self._hub = app[HUB]
        self._private = app[PRIVATE_ROOMS]
        self._names = app[MEMBER_NAMES]
        self.watchers = Watchers()
        self.levels = Levels()
        self.reads = ReadPositions(store)
        self.here = HereLimit(here_interval)
        self.recorder = MentionRecorder(store, self._mentioned)
        self.notifications = Notifications(app, self.levels)
        self.audiences = Audiences(store, self._private, self.watchers, self.levels, self.reads, self._spawn)
        self.newest = 0  # the newest message id published (read positions are capped at it)
        self._seq = 0
        self._reading = 0  # sidebars and watch lists being read right now
        # (seq, room, message id, target member, sender, frame) while a sidebar is being read
        self._recent: collections.deque[tuple[int, str, int, int | None, int | None, Item | dict[str, Any]]] = \
            collections.deque(maxlen=RECENT)
        self._guests: dict[Client, TokenBucket] = {}  # guest sockets that sent watch
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- the writer's publish path: no awaiting, nothing that raises ----

    def observe(self, batch: Sequence[Stored]) -> None:
        waiting: list[Mentioning] = []
        for stored in batch:
            try:
                mentioning = self._observe(stored)
            except Exception:  # the writer must never fail for attention
                log.exception("attention failed for message %d", stored.message.id)
                continue
            if mentioning is not None:
                waiting.append(mentioning)
        if waiting:
            self.recorder.add(waiting)

    def observe_elsewhere(self, messages: Sequence[Message]) -> None:
        """Messages another node stored (on PostgreSQL), as this node's log follower delivers
        them: activity and read frames for this node's sockets. The node that stored a message
        records its mentions and sends its notifications (docs/scaling.md)."""
        for m in messages:
            try:
                self.newest = max(self.newest, m.id)
                self.audiences.when_known(m.room, functools.partial(
                    self._announce, m, self.audiences.visibility(m.room), notify=False))
            except Exception:  # the follower must never fail for attention
                log.exception("attention failed for message %d", m.id)

    def _observe(self, stored: Stored) -> Mentioning | None:
        m = stored.message
        self.newest = max(self.newest, m.id)
        visibility = self.audiences.visibility(m.room)
        mentioning = self._mentioning(m, visibility, stored)
        self.audiences.when_known(m.room, lambda: self._announce(m, visibility, notify=mentioning is None))
        return mentioning

    def _mentioning(self, m: Message, visibility: str, stored: Stored) -> Mentioning | None:
        if "@" not in m.body:
            return None
        keys, here = named_members(m.body, self._names)
        here_ids: frozenset[int] = frozenset()
        if here and m.member_id is not None and self.here.allow(m.member_id):
            here_ids = frozenset(c.member_id for c in self._hub.rooms.get(m.room, ())
                                 if c.member_id is not None and c.member_id != m.member_id)
        if not keys and not here_ids:
            return None
        return Mentioning(stored, visibility, keys, here_ids)

    def _announce(self, m: Message, visibility: str, notify: bool) -> None:
        room, sender = m.room, m.member_id
        if sender is not None:
            if visibility == "public":
                self.watchers.add_room(sender, room)  # posting puts a room in one's sidebar
            if self.reads.posted(sender, room, m.id):
                self.watchers.send_to(sender, self._read_item(room, m.id), off_room=room)
        # A room nobody watches from elsewhere costs no frame (most rooms, most of the time),
        # unless a sidebar is being read and may need it replayed.
        heard = self.watchers.heard(room)
        if heard or self._reading:
            frame: dict[str, Any] = {"type": "activity", "room": room, "id": m.id, "user": m.user,
                                     "mention": False}
            if visibility == "dm":
                frame.update(dm=True, excerpt=excerpt(m.body))  # two people at most get this one
            if heard:
                item: Item = (None, ws_frame(dumps(frame)))
                self.watchers.send(room, item, sender, self.audiences.allowed(room, visibility))
                self._remember(room, m.id, None, sender, item)
            else:
                self._remember(room, m.id, None, sender, frame)
        if notify:
            self.notifications.plain(m, visibility, self.audiences.allowed(room, visibility), set())

    def _mentioned(self, waiting: Mentioning, members: set[int]) -> None:
        """The recorder stored these mentions (the database checked who may see the room)."""
        self.audiences.when_known(waiting.stored.message.room, lambda: self._tell_mentioned(waiting, members))

    def _tell_mentioned(self, waiting: Mentioning, members: set[int]) -> None:
        m, visibility = waiting.stored.message, waiting.visibility
        if members:
            frame: dict[str, Any] = {"type": "activity", "room": m.room, "id": m.id, "user": m.user,
                                     "mention": True, "excerpt": excerpt(m.body)}
            if visibility == "dm":
                frame["dm"] = True
            item: Item = (None, ws_frame(dumps(frame)))
            for member_id in members:
                self.watchers.send_to(member_id, item, off_room=m.room)
                self._remember(m.room, m.id, member_id, m.member_id, item)
        self.notifications.mentioned(m, visibility, members, waiting.here, self.audiences.allowed(m.room, visibility))

    def _read_item(self, room: str, last_read: int) -> Item:
        return None, ws_frame(dumps({"type": "read", "room": room, "id": last_read}))

    def _remember(self, room: str, msg_id: int, target: int | None, sender: int | None,
                  item: Item | dict[str, Any]) -> None:
        """Keep a frame for a socket whose sidebar is being read (:meth:`_replay`); one nobody
        heard is kept unframed, and framed only if it is replayed. Only while one is."""
        if self._reading:
            self._seq += 1
            self._recent.append((self._seq, room, msg_id, target, sender, item))

    # ---- changes of sidebars ----

    def member_added(self, room: str, member_id: int) -> None:
        """Added to a private room: their open pages hear of it from now on."""
        self.audiences.added(room, member_id)

    def opened(self, member_id: int, room: str) -> None:
        """A member opened a public room's page: it is in their sidebar now."""
        self.watchers.add_room(member_id, room)

    # ---- sockets ----

    async def join(self, client: Client, query: Mapping[str, str]) -> None:
        """A socket joined its room: a member's that asked (``sidebar=1``) gets their sidebar,
        and from then on activity in their other rooms."""
        member_id = client.member_id
        if member_id is None or query.get("sidebar") != "1":
            return
        seq = self._seq
        self._reading += 1
        try:
            await self.reads.flush_member(member_id)
            rooms = await self._store.sidebar(member_id, SIDEBAR_LIMIT, COUNT_LIMIT)
        except StorageError as exc:
            log.warning("%r: no sidebar: %s", client, exc)
            return
        finally:
            self._reading -= 1
        self.watchers.member_joined(client, [r.room for r in rooms])
        self.reads.load(member_id, {r.room: r.last_read for r in rooms})
        client.out.send(dumps({"type": "sidebar", "count_limit": COUNT_LIMIT,
                               "rooms": [sidebar_entry(r) for r in rooms]}))
        self._replay(client, seq, set(self.watchers.rooms_of(member_id)), {r.room: r.latest for r in rooms})

    def _replay(self, client: Client, seq: int, rooms: set[str], counted: Mapping[str, int]) -> None:
        """What was published while the socket's sidebar (or watch list) was being read, less
        the messages the read counted already: ``counted`` is each room's newest id it saw.
        (A message committed before the read and told of during it would count twice; within
        a room ids commit in order, so the read has every one up to its newest.) A mention is
        replayed whatever its id: it is recorded after its message, so the read may not have it."""
        if not self._recent or self._recent[-1][0] <= seq:
            return
        member_id = client.member_id
        for entry_seq, room, msg_id, target, sender, kept in self._recent:
            if entry_seq <= seq or room == client.room or (member_id is not None and sender == member_id):
                continue
            if target is None and msg_id <= counted.get(room, 0):
                continue
            item = kept if isinstance(kept, tuple) else (None, ws_frame(dumps(kept)))
            if target is not None:
                if target == member_id:
                    client.out.enqueue(item)
            elif room in rooms:
                allowed = self.audiences.allowed(room, self._private.visibility(room))
                if allowed is None or (member_id is not None and member_id in allowed):
                    client.out.enqueue(item)

    def leave(self, client: Client) -> None:
        if client.member_id is None:
            self._guests.pop(client, None)
            self.watchers.guest_left(client)
            return
        self.watchers.member_left(client)
        if not self.watchers.connected(client.member_id):
            self.reads.forget(client.member_id)

    def receive(self, client: Client, frame: AttentionIn, refuse: Refuse) -> None:
        if isinstance(frame, ReadIn):
            self._read(client, frame, refuse)
        else:
            self._watch(client, frame.rooms, refuse)

    def _read(self, client: Client, frame: ReadIn, refuse: Refuse) -> None:
        member_id = client.member_id
        if member_id is None:
            refuse("members_only", None, "Guests keep their read positions in the browser; only members report them.")
            return
        if frame.room != client.room and frame.room not in self.watchers.rooms_of(member_id):
            return  # not a room of theirs: as if it did not exist
        last_read = min(frame.id, self.newest) if self.newest else frame.id
        if self.reads.advance(member_id, frame.room, last_read):
            self.watchers.send_to(member_id, self._read_item(frame.room, last_read), exclude=client)

    def _watch(self, client: Client, rooms: dict[str, int], refuse: Refuse) -> None:
        if client.member_id is not None:
            refuse("guests_only")
            return
        bucket = self._guests.get(client)
        if bucket is None:
            bucket = self._guests[client] = TokenBucket(WATCH_RATE, WATCH_BURST)
        if not bucket.allow():
            refuse("rate_limited", None, "Too many watch frames; that one was dropped.")
            return
        # A private room or DM is not even looked up for a guest: it answers as a room with nothing in it.
        public = {room: last for room, last in rooms.items()
                  if self._private.visibility(room) == "public" and not is_dm_name(room)}
        self._spawn(self._watched(client, rooms, public), f"chatapp-watch-{client.out.id}")

    async def _watched(self, client: Client, asked: dict[str, int], public: dict[str, int]) -> None:
        seq = self._seq
        self._reading += 1
        try:
            counts = await self._store.watch_counts(public, COUNT_LIMIT)
        except StorageError as exc:
            log.warning("%r: watch failed: %s", client, exc)
            counts = {}
        finally:
            self._reading -= 1
        if client not in self._guests:
            return  # the socket left meanwhile
        watched = [room for room in public if room in counts]
        self.watchers.guest_watches(client, watched)
        client.out.send(dumps({"type": "watching", "count_limit": COUNT_LIMIT, "rooms": {
            room: {"unread": counts.get(room, (0, 0))[0], "latest": counts.get(room, (0, 0))[1]} for room in asked}}))
        self._replay(client, seq, set(watched), {room: counts[room][1] for room in watched})

    # ---- pages ----

    async def sidebar(self, member_id: int) -> list[SidebarRoom]:
        """The member's sidebar for a page: their latest read positions written first."""
        await self.reads.flush_member(member_id)
        return await self._store.sidebar(member_id, SIDEBAR_LIMIT, COUNT_LIMIT)

    def level_chosen(self, member_id: int, room: str, level: str | None) -> None:
        self.levels.choose(member_id, room, level)
        self.watchers.add_room(member_id, room)

    def left_sidebar(self, member_id: int, room: str) -> None:
        self.watchers.drop_room(member_id, room)
        self.reads.forget_room(member_id, room)

    # ---- tasks ----

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("attention task %s failed", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


ATTENTION = web.AppKey("attention", Attention)
