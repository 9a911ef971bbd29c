"""Private rooms and direct messages on PostgreSQL: the rooms' visibility and their members
(what they are for: :mod:`chatapp.privacy`; as :mod:`..sqlite.private`)."""

from __future__ import annotations

from collections.abc import Sequence

from ...models import RoomSummary
from ..records import Member, MemberRoom
from .connection import PostgresBase
from .member_admin import _M_COLUMNS
from .members import MEMBER_COLUMNS, member


class PrivateRoomsMixin(PostgresBase):
    async def non_public_rooms(self) -> dict[str, str]:
        rows = await self._fetch("SELECT name, visibility FROM rooms WHERE visibility <> 'public'")
        return {r[0]: r[1] for r in rows}

    async def create_room(self, name: str, visibility: str, now: str, member_ids: Sequence[int]) -> str:
        # ON CONFLICT: a room of that name already exists (public, from a message, or not):
        # it is never taken over; the caller is told what it is.
        async with self._transaction() as conn:
            created = await conn.fetchval(
                "INSERT INTO rooms (name, created_at, visibility) VALUES ($1, $2, $3) "
                "ON CONFLICT (name) DO NOTHING RETURNING visibility", name, now, visibility)
            if created is None:
                existing = await conn.fetchval("SELECT visibility FROM rooms WHERE name = $1", name)
                return str(existing) if existing is not None else "public"
            await conn.execute(
                "INSERT INTO room_members (room, member_id, added_at) "
                "SELECT $1, id, $2 FROM unnest($3::bigint[]) AS id ON CONFLICT DO NOTHING", name, now, list(member_ids))
        return "created"

    async def room_access(self, room: str, member_id: int) -> tuple[str, bool] | None:
        row = await self._fetchrow(
            "SELECT visibility, EXISTS (SELECT 1 FROM room_members WHERE room = $1 AND member_id = $2) "
            "FROM rooms WHERE name = $1", room, member_id)
        return (str(row[0]), bool(row[1])) if row else None

    async def room_members(self, room: str) -> list[Member]:
        rows = await self._fetch(
            f"SELECT {_M_COLUMNS} FROM room_members rm JOIN members m ON m.id = rm.member_id "
            "WHERE rm.room = $1 ORDER BY m.name_key", room)
        return [member(r) for r in rows]

    async def add_room_member(self, room: str, member_id: int, now: str) -> bool:
        rows = await self._fetch(
            "INSERT INTO room_members (room, member_id, added_at) SELECT $1, $2, $3 "
            "WHERE EXISTS (SELECT 1 FROM rooms WHERE name = $1 AND visibility = 'private') "
            "ON CONFLICT DO NOTHING RETURNING 1", room, member_id, now)
        return bool(rows)

    async def remove_room_member(self, room: str, member_id: int) -> bool:
        rows = await self._fetch("DELETE FROM room_members WHERE room = $1 AND member_id = $2 RETURNING 1",
                                 room, member_id)
        return bool(rows)

    async def member_rooms(self, member_id: int, limit: int) -> list[MemberRoom]:
        # The other person of a DM is the one member of its two who is not the viewer.
        rows = await self._fetch(
            "SELECT r.name, r.message_count, r.last_message_at, r.locked, r.visibility, "
            "(SELECT m.name FROM room_members o JOIN members m ON m.id = o.member_id "
            " WHERE r.visibility = 'dm' AND o.room = r.name AND o.member_id <> $1) "
            "FROM room_members rm JOIN rooms r ON r.name = rm.room WHERE rm.member_id = $1 "
            "ORDER BY r.active_at DESC, r.name LIMIT $2", member_id, limit)
        return [MemberRoom(RoomSummary(r[0], int(r[1]), r[2], bool(r[3])), r[4], r[5]) for r in rows]

    async def member_by_key(self, name_key: str) -> Member | None:
        row = await self._fetchrow(f"SELECT {MEMBER_COLUMNS} FROM members WHERE name_key = $1", name_key)
        return member(row) if row else None
