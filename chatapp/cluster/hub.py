"""The hub of a cluster node: it delivers what the log follower reads, never its own writes.

On one machine the batch writer publishes straight to the hub after each commit. With
several nodes that would let a node show its own id 11 before another node's id 10 has
reached it, so a node of a cluster publishes nothing directly: :meth:`FollowedHub.publish`
and :meth:`FollowedHub.publish_event` (what the writer, edits and moderation call after a
commit) only wake the follower for that room's shard, and :meth:`FollowedHub.deliver`
hands the follower's rows, in id order, to the sockets, the same way on every node.

A message this node stored keeps its frame text until the follower reads it back, so it
is rendered once, not twice. Events that are not for pages (a room locked, deleted or made
private, a member removed or deactivated) go to ``on_node_event``, which applies them to
this node's state (:mod:`chatapp.cluster.events`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..hub import Hub
from ..models import Message, RoomEvent
from ..writer import Stored
from .follower import LogFollower, Logged

MAX_TEXTS = 20_000  # frames kept for rows this node stored and the follower has not read yet


def _ignore(event: RoomEvent) -> None:
    pass


class FollowedHub(Hub):
    """:class:`chatapp.hub.Hub` for a node of a cluster (``database_url`` set)."""

    def __init__(self, node_kinds: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.follower: LogFollower | None = None
        self.node_kinds = node_kinds
        self.on_node_event: Callable[[RoomEvent], None] = _ignore
        # What else must see the messages other nodes stored, in id order (the writer's
        # publish callback has told it of this node's own): called once per batch read.
        self.observers: list[Callable[[Sequence[Message]], None]] = []
        self._texts: dict[int, str] = {}

    # ---- after a commit on this node: only wake the follower ------------------------------

    def publish(self, stored: Sequence[Stored]) -> None:
        follower = self.follower
        if follower is None:
            return
        if len(self._texts) > MAX_TEXTS:
            self._texts.clear()  # rows deleted before the follower read them: render again
        for s in stored:
            self._texts[s.message.id] = s.text
            follower.wake_room(s.message.room)

    def publish_event(self, event: RoomEvent) -> None:
        if self.follower is not None:
            self.follower.wake_room(event.room)

    # ---- what the follower read, in id order --------------------------------------------------

    def deliver(self, rows: Sequence[Logged]) -> None:
        rooms = self.rooms
        elsewhere: list[Message] = []
        for row in rows:
            self.resume.changed(row.room)  # here, not in publish(): this is when pages see it
            if isinstance(row, Message):
                text = self._texts.pop(row.id, None)
                if text is None:  # stored by another node (or forgotten past MAX_TEXTS: told twice)
                    elsewhere.append(row)
                if row.room in rooms:
                    self.broadcast(row.room, text if text is not None else row.frame_text(), row.id)
            elif row.kind in self.node_kinds:
                self.on_node_event(row)
            elif row.room in rooms:
                super().publish_event(row)
        if elsewhere:  # after the sockets, as the writer's publish callback has it
            for observe in self.observers:
                observe(elsewhere)

    async def close_all(self, timeout: float) -> None:
        """Deliver what this node's writer committed last, then close every socket."""
        if self.follower is not None:
            await self.follower.catch_up(timeout / 2)
        await super().close_all(timeout)
