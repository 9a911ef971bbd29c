"""Bots on SQLite: their accounts, tokens, room allow-lists and webhook state (what they are
for: :mod:`chatapp.bots`; the schema: ``migrations/0012_bots.sql``).

Every change is one autocommit statement or a sequence of them that never passes through a
state wider than the one before and the one after (the ``limited`` flag goes up before a
list shrinks, and down only after it is emptied), so no multi-statement transaction has to
share the write connection with the chat writer's batches.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..records import Bot
from .connection import Row, SQLiteBase

# The allow-list rides along as one text column: room names are [a-z0-9_-], so ',' is safe.
_COLUMNS = ("b.id, b.name, b.name_key, b.created_at, b.rotated_at, b.revoked_at, b.limited, "
            "(SELECT group_concat(room, ',') FROM bot_rooms WHERE bot_id = b.id), "
            "b.webhook_url, b.webhook_secret, b.failures, b.last_error, b.last_error_at, b.last_delivery_at")


def _bot(r: Row) -> Bot:
    rooms = tuple(sorted(r[7].split(","))) if r[7] else ()
    return Bot(int(r[0]), r[1], r[2], r[3], r[4], r[5], bool(r[6]), rooms, r[8], r[9], int(r[10]),
               r[11], r[12], r[13])


class BotsMixin(SQLiteBase):
    async def create_bot(self, name: str, name_key: str, token_hash: str, now: str, rooms: Sequence[str] | None,
                         webhook_url: str | None, webhook_secret: str | None) -> Bot | None:
        # UNIQUE name_key settles two bots racing for a name; a trigger skips a member's.
        created = await self._write(
            "INSERT INTO bots (name, name_key, token_hash, created_at, limited, webhook_url, webhook_secret) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name_key) DO NOTHING RETURNING id",
            (name, name_key, token_hash, now, int(rooms is not None), webhook_url, webhook_secret))
        if not created:
            return None
        bot_id = int(created[0][0])
        if rooms:
            await self._add_rooms(bot_id, rooms)
        return await self._bot_written(bot_id)

    async def _add_rooms(self, bot_id: int, rooms: Sequence[str]) -> None:
        values = ",".join(["(?, ?)"] * len(rooms))
        await self._write(f"INSERT OR IGNORE INTO bot_rooms (bot_id, room) VALUES {values}",
                          [v for room in rooms for v in (bot_id, room)])

    async def _bot_written(self, bot_id: int) -> Bot | None:
        # On the write connection: what was just written, whatever the readers have seen.
        rows = await self._write(f"SELECT {_COLUMNS} FROM bots b WHERE b.id = ?", (bot_id,))
        return _bot(rows[0]) if rows else None

    async def bot(self, bot_id: int) -> Bot | None:
        rows = await self._read(f"SELECT {_COLUMNS} FROM bots b WHERE b.id = ?", (bot_id,))
        return _bot(rows[0]) if rows else None

    async def bot_by_key(self, name_key: str) -> Bot | None:
        rows = await self._read(f"SELECT {_COLUMNS} FROM bots b WHERE b.name_key = ?", (name_key,))
        return _bot(rows[0]) if rows else None

    async def bot_auth(self, bot_id: int) -> tuple[Bot, str] | None:
        rows = await self._read(f"SELECT {_COLUMNS}, b.token_hash FROM bots b WHERE b.id = ?", (bot_id,))
        return (_bot(rows[0]), str(rows[0][14])) if rows else None

    async def bots(self) -> list[Bot]:
        rows = await self._read(f"SELECT {_COLUMNS} FROM bots b ORDER BY b.name_key")
        return [_bot(r) for r in rows]

    async def set_bot_token(self, bot_id: int, token_hash: str, now: str) -> bool:
        rows = await self._write(
            "UPDATE bots SET token_hash = ?, rotated_at = ?, revoked_at = NULL WHERE id = ? RETURNING 1",
            (token_hash, now, bot_id))
        return bool(rows)

    async def revoke_bot(self, bot_id: int, now: str) -> bool:
        rows = await self._write(
            "UPDATE bots SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING 1", (now, bot_id))
        return bool(rows)

    async def set_bot_rooms(self, bot_id: int, rooms: Sequence[str] | None) -> None:
        if rooms is None:
            await self._write("DELETE FROM bot_rooms WHERE bot_id = ?", (bot_id,))
            await self._write("UPDATE bots SET limited = 0 WHERE id = ?", (bot_id,))
            return
        await self._write("UPDATE bots SET limited = 1 WHERE id = ?", (bot_id,))
        marks = ",".join("?" * len(rooms))
        await self._write(f"DELETE FROM bot_rooms WHERE bot_id = ? AND room NOT IN ({marks})", (bot_id, *rooms))
        if rooms:
            await self._add_rooms(bot_id, rooms)

    async def set_bot_webhook(self, bot_id: int, url: str | None, secret: str | None) -> None:
        await self._write("UPDATE bots SET webhook_url = ?, webhook_secret = ? WHERE id = ?", (url, secret, bot_id))

    async def record_delivery(self, bot_id: int, now: str, error: str | None) -> None:
        if error is None:
            await self._write("UPDATE bots SET last_delivery_at = ? WHERE id = ?", (now, bot_id))
        else:
            await self._write(
                "UPDATE bots SET failures = failures + 1, last_error = ?, last_error_at = ? WHERE id = ?",
                (error, now, bot_id))
