"""Private rooms and direct messages on SQLite: the rooms' visibility and their members
(what they are for: :mod:`chatapp.privacy`; the schema: ``migrations/0008_private_rooms.sql``)."""

from __future__ import annotations

from collections.abc import Sequence

from ...models import RoomSummary
from ..records import Member, MemberRoom
from .connection import SQLiteBase
from .members import _MEMBER_COLUMNS, _member


class PrivateRoomsMixin(SQLiteBase):
    async def non_public_rooms(self) -> dict[str, str]:
        rows = await self._read("SELECT name, visibility FROM rooms WHERE visibility <> 'public'")
        return {r[0]: r[1] for r in rows}

    async def create_room(self, name: str, visibility: str, now: str, member_ids: Sequence[int]) -> str:
        # ON CONFLICT: a room of that name already exists (public, from a message, or not):
        # it is never taken over; the caller is told what it is.
        created = await self._write(
            "INSERT INTO rooms (name, created_at, visibility) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING RETURNING visibility", (name, now, visibility))
        if not created:
            rows = await self._write("SELECT visibility FROM rooms WHERE name = ?", (name,))
            return str(rows[0][0]) if rows else "public"
        for member_id in member_ids:
            await self._write("INSERT OR IGNORE INTO room_members (room, member_id, added_at) VALUES (?, ?, ?)",
                              (name, member_id, now))
        return "created"

    async def room_access(self, room: str, member_id: int) -> tuple[str, bool] | None:
        rows = await self._read(
            "SELECT visibility, EXISTS (SELECT 1 FROM room_members WHERE room = ? AND member_id = ?) "
            "FROM rooms WHERE name = ?", (room, member_id, room))
        return (str(rows[0][0]), bool(rows[0][1])) if rows else None

    async def room_members(self, room: str) -> list[Member]:
        rows = await self._read(
            f"SELECT {', '.join('m.' + c for c in _MEMBER_COLUMNS.split(', '))} FROM room_members rm "
            "JOIN members m ON m.id = rm.member_id WHERE rm.room = ? ORDER BY m.name_key", (room,))
        return [_member(r) for r in rows]

    async def add_room_member(self, room: str, member_id: int, now: str) -> bool:
        rows = await self._write(
            "INSERT INTO room_members (room, member_id, added_at) SELECT ?, ?, ? "
            "WHERE EXISTS (SELECT 1 FROM rooms WHERE name = ? AND visibility = 'private') "
            "ON CONFLICT DO NOTHING RETURNING 1", (room, member_id, now, room))
        return bool(rows)

    async def remove_room_member(self, room: str, member_id: int) -> bool:
        rows = await self._write("DELETE FROM room_members WHERE room = ? AND member_id = ? RETURNING 1",
                                 (room, member_id))
        return bool(rows)

    async def member_rooms(self, member_id: int, limit: int) -> list[MemberRoom]:
        # The other person of a DM is the one member of its two who is not the viewer.
        rows = await self._read(
            "SELECT r.name, r.message_count, r.last_message_at, r.locked, r.visibility, "
            "(SELECT m.name FROM room_members o JOIN members m ON m.id = o.member_id "
            " WHERE r.visibility = 'dm' AND o.room = r.name AND o.member_id <> ?) "
            "FROM room_members rm JOIN rooms r ON r.name = rm.room WHERE rm.member_id = ? "
            "ORDER BY r.active_at DESC, r.name LIMIT ?", (member_id, member_id, limit))
        return [MemberRoom(RoomSummary(r[0], int(r[1]), r[2], bool(r[3])), r[4], r[5]) for r in rows]

    async def member_by_key(self, name_key: str) -> Member | None:
        rows = await self._read(f"SELECT {_MEMBER_COLUMNS} FROM members WHERE name_key = ?", (name_key,))
        return _member(rows[0]) if rows else None
