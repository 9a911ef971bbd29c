"""Member administration on SQLite: the admin's member list, roles and status, join links
as the admin sees them, and password-reset links (what they are for: :mod:`chatapp.admin.members`)."""

from __future__ import annotations

from ..records import JoinLink, Member
from .connection import Row, SQLiteBase

_COLUMNS = "id, name, name_key, role, status, created_at, last_seen_at, session_version"


def _member(r: Row) -> Member:
    return Member(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]))


class MemberAdminMixin(SQLiteBase):
    async def members_page(self, name_part: str, before: int | None,
                           limit: int) -> tuple[list[Member], int | None]:
        # Keyset by id, newest first: a page is an index walk from ``before`` down, never OFFSET.
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM members WHERE id < ? AND (? = '' OR instr(name_key, ?) > 0) "
            "ORDER BY id DESC LIMIT ?",
            (before if before is not None else 2**62, name_part, name_part, limit + 1))
        members = [_member(r) for r in rows[:limit]]
        return members, (members[-1].id if len(rows) > limit and members else None)

    async def set_member_status(self, member_id: int, status: str) -> Member | None:
        rows = await self._write(f"UPDATE members SET status = ? WHERE id = ? RETURNING {_COLUMNS}",
                                 (status, member_id))
        return _member(rows[0]) if rows else None

    async def set_member_role(self, member_id: int, role: str) -> Member | None:
        rows = await self._write(f"UPDATE members SET role = ? WHERE id = ? RETURNING {_COLUMNS}",
                                 (role, member_id))
        return _member(rows[0]) if rows else None

    async def join_links(self, limit: int) -> list[JoinLink]:
        rows = await self._read(
            "SELECT j.token_hash, j.created_at, j.expires_at, j.max_uses, j.uses, j.revoked_at, m.name "
            "FROM join_links j LEFT JOIN members m ON m.id = j.created_by "
            "ORDER BY j.created_at DESC LIMIT ?", (limit,))
        return [JoinLink(r[0], r[1], r[2], int(r[3]), int(r[4]), r[5], r[6]) for r in rows]

    async def create_password_reset(self, token_hash: str, member_id: int, now: str, expires_at: str) -> None:
        await self._write(
            "INSERT INTO password_resets (token_hash, member_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (token_hash, member_id, now, expires_at))

    async def password_reset_member(self, token_hash: str, now: str) -> Member | None:
        rows = await self._read(
            f"SELECT {', '.join('m.' + c.strip() for c in _COLUMNS.split(','))} FROM password_resets r "
            "JOIN members m ON m.id = r.member_id "
            "WHERE r.token_hash = ? AND r.used_at IS NULL AND r.expires_at > ? AND m.status = 'active'",
            (token_hash, now))
        return _member(rows[0]) if rows else None

    async def use_password_reset(self, token_hash: str, now: str) -> int | None:
        # One statement: two tabs submitting the same link cannot both use it.
        rows = await self._write(
            "UPDATE password_resets SET used_at = ? WHERE token_hash = ? AND used_at IS NULL "
            "AND expires_at > ? RETURNING member_id", (now, token_hash, now))
        return int(rows[0][0]) if rows else None
