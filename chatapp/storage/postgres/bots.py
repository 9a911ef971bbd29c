"""Bots on PostgreSQL: their accounts, tokens, room allow-lists and webhook state (what they
are for: :mod:`chatapp.bots`; the schema: ``migrations/postgres/0012_bots.sql``).

As on SQLite, a change never passes through a state wider than the one before and the one
after: the ``limited`` flag goes up before a list shrinks and down only after it is emptied
(here each change is also one transaction, so no reader sees it half done).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from ..records import Bot
from .connection import PostgresBase, Record

# The allow-list rides along as one text column: room names are [a-z0-9_-], so ',' is safe.
_COLUMNS = ("b.id, b.name, b.name_key, b.created_at, b.rotated_at, b.revoked_at, b.limited, "
            "(SELECT string_agg(room, ',') FROM bot_rooms WHERE bot_id = b.id), "
            "b.webhook_url, b.webhook_secret, b.failures, b.last_error, b.last_error_at, b.last_delivery_at")


def _bot(r: Record) -> Bot:
    rooms = tuple(sorted(r[7].split(","))) if r[7] else ()
    return Bot(int(r[0]), r[1], r[2], r[3], r[4], r[5], bool(r[6]), rooms, r[8], r[9], int(r[10]),
               r[11], r[12], r[13])


class BotsMixin(PostgresBase):
    async def create_bot(self, name: str, name_key: str, token_hash: str, now: str, rooms: Sequence[str] | None,
                         webhook_url: str | None, webhook_secret: str | None) -> Bot | None:
        # UNIQUE name_key settles two bots racing for a name; a trigger skips a member's.
        async with self._transaction() as conn:
            bot_id = await conn.fetchval(
                "INSERT INTO bots (name, name_key, token_hash, created_at, limited, webhook_url, webhook_secret) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name_key) DO NOTHING RETURNING id",
                name, name_key, token_hash, now, int(rooms is not None), webhook_url, webhook_secret)
            if bot_id is None:
                return None
            if rooms:
                await self._add_rooms(conn, int(bot_id), rooms)
        return await self.bot(int(bot_id))

    @staticmethod
    async def _add_rooms(conn: asyncpg.Connection, bot_id: int, rooms: Sequence[str]) -> None:
        await conn.execute(
            "INSERT INTO bot_rooms (bot_id, room) SELECT $1, room FROM unnest($2::text[]) AS room "
            "ON CONFLICT DO NOTHING", bot_id, list(rooms))

    async def bot(self, bot_id: int) -> Bot | None:
        row = await self._fetchrow(f"SELECT {_COLUMNS} FROM bots b WHERE b.id = $1", bot_id)
        return _bot(row) if row else None

    async def bot_by_key(self, name_key: str) -> Bot | None:
        row = await self._fetchrow(f"SELECT {_COLUMNS} FROM bots b WHERE b.name_key = $1", name_key)
        return _bot(row) if row else None

    async def bot_auth(self, bot_id: int) -> tuple[Bot, str] | None:
        row = await self._fetchrow(f"SELECT {_COLUMNS}, b.token_hash FROM bots b WHERE b.id = $1", bot_id)
        return (_bot(row), str(row[14])) if row else None

    async def bots(self) -> list[Bot]:
        rows = await self._fetch(f"SELECT {_COLUMNS} FROM bots b ORDER BY b.name_key")
        return [_bot(r) for r in rows]

    async def set_bot_token(self, bot_id: int, token_hash: str, now: str) -> bool:
        rows = await self._fetch(
            "UPDATE bots SET token_hash = $1, rotated_at = $2, revoked_at = NULL WHERE id = $3 RETURNING 1",
            token_hash, now, bot_id)
        return bool(rows)

    async def revoke_bot(self, bot_id: int, now: str) -> bool:
        rows = await self._fetch(
            "UPDATE bots SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING 1", now, bot_id)
        return bool(rows)

    async def set_bot_rooms(self, bot_id: int, rooms: Sequence[str] | None) -> None:
        async with self._transaction() as conn:
            if rooms is None:
                await conn.execute("DELETE FROM bot_rooms WHERE bot_id = $1", bot_id)
                await conn.execute("UPDATE bots SET limited = 0 WHERE id = $1", bot_id)
                return
            await conn.execute("UPDATE bots SET limited = 1 WHERE id = $1", bot_id)
            await conn.execute("DELETE FROM bot_rooms WHERE bot_id = $1 AND NOT (room = ANY($2::text[]))",
                               bot_id, list(rooms))
            if rooms:
                await self._add_rooms(conn, bot_id, rooms)

    async def set_bot_webhook(self, bot_id: int, url: str | None, secret: str | None) -> None:
        await self._fetch("UPDATE bots SET webhook_url = $1, webhook_secret = $2 WHERE id = $3", url, secret, bot_id)

    async def record_delivery(self, bot_id: int, now: str, error: str | None) -> None:
        if error is None:
            await self._fetch("UPDATE bots SET last_delivery_at = $1 WHERE id = $2", now, bot_id)
        else:
            await self._fetch(
                "UPDATE bots SET failures = failures + 1, last_error = $1, last_error_at = $2 WHERE id = $3",
                error, now, bot_id)
