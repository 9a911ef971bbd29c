"""The cluster interface on SQLite: one process, one shard (see ``# ---- cluster`` in
:class:`chatapp.storage.base.Storage`; the real thing is :mod:`chatapp.storage.postgres.cluster`).

A SQLite file is served by one process whose writer publishes its own batches, so nothing
needs following; these exist so both backends satisfy one interface: every room is in shard
0, the log is every room's messages and events in id order, and there is nothing to LISTEN to.
"""

from __future__ import annotations

from collections.abc import Callable

from ...models import Message, RoomEvent
from .connection import SQLiteBase
from .messages import FROM_MESSAGES, MESSAGE_COLUMNS, MESSAGE_WIDTH, message

# Messages and events in one statement (one snapshot): a message row, then NULL kind, or an
# event row with the message columns NULL.
_LOG = (f"SELECT * FROM (SELECT {MESSAGE_COLUMNS}, NULL, NULL, NULL FROM {FROM_MESSAGES} "
        "WHERE m.id > ? ORDER BY m.id LIMIT ?) "
        f"UNION ALL SELECT * FROM (SELECT e.id, e.room, {'NULL, ' * 2}e.ts, {'NULL, ' * (MESSAGE_WIDTH - 5)}"
        "e.kind, e.message_id, e.data FROM room_events AS e WHERE e.id > ? ORDER BY e.id LIMIT ?) "
        "ORDER BY 1 LIMIT ?")


class ClusterMixin(SQLiteBase):
    shards = 1

    def shard_of(self, room: str) -> int:
        return 0

    async def log_after_shard(self, shard: int, after: int, limit: int) -> list[Message | RoomEvent]:
        if shard != 0:
            return []
        rows = await self._read(_LOG, (after, limit, after, limit, limit))
        return [message(r[:MESSAGE_WIDTH]) if r[MESSAGE_WIDTH] is None
                else RoomEvent(int(r[0]), r[1], r[MESSAGE_WIDTH], r[MESSAGE_WIDTH + 1], r[4], r[MESSAGE_WIDTH + 2])
                for r in rows]

    async def shard_heads(self) -> dict[int, int]:
        rows = await self._read("SELECT max(coalesce((SELECT max(id) FROM messages), 0), "
                                "coalesce((SELECT max(id) FROM room_events), 0))")
        return {0: int(rows[0][0])}

    async def listen_log(self, callback: Callable[[int], None]) -> None:
        return None

    async def unlisten_log(self) -> None:
        return None
