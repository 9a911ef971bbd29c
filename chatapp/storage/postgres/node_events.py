"""Node events on PostgreSQL: a change to what every chatapp node keeps in memory, written
to its room's log (migrations/postgres/0002_node_events.sql; chatapp/cluster/node.py says
which kinds there are and chatapp/cluster/events.py what each node does with them)."""

from __future__ import annotations

from collections.abc import Callable

from ...models import RoomEvent
from .connection import PostgresBase


class NodeEventsMixin(PostgresBase):
    async def log_node_event(self, room: str, kind: str, data: str | None, ts: str,
                             drawn: Callable[[int], None] | None = None) -> RoomEvent:
        """Append a node event to ``room``'s log (its shard locked, as every log write).
        ``drawn`` is given the event's id before the commit makes the event visible."""
        async with self._log_transaction([room]) as conn:
            row = await conn.fetchrow(
                "INSERT INTO room_events (room, kind, message_id, ts, data) VALUES ($1, $2, NULL, $3, $4) "
                "RETURNING id, room, kind, message_id, ts, data",
                room, kind, ts, data)
            assert row is not None
            if drawn is not None:
                drawn(int(row[0]))
        return RoomEvent(int(row[0]), row[1], row[2], row[3], row[4], row[5])
