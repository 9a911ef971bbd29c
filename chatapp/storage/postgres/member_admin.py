"""Member administration on PostgreSQL: the admin's member list, roles and status, join links
as the admin sees them, and password-reset links (as :mod:`..sqlite.member_admin`)."""

from __future__ import annotations

from ..records import JoinLink, Member
from .connection import PostgresBase
from .members import MEMBER_COLUMNS, member

_M_COLUMNS = ", ".join("m." + c for c in MEMBER_COLUMNS.split(", "))


class MemberAdminMixin(PostgresBase):
    async def members_page(self, name_part: str, before: int | None,
                           limit: int) -> tuple[list[Member], int | None]:
        # Keyset by id, newest first: a page is an index walk from ``before`` down, never OFFSET.
        rows = await self._fetch(
            f"SELECT {MEMBER_COLUMNS} FROM members WHERE id < $1 AND ($2 = '' OR strpos(name_key, $2) > 0) "
            "ORDER BY id DESC LIMIT $3",
            before if before is not None else 2**62, name_part, limit + 1)
        members = [member(r) for r in rows[:limit]]
        return members, (members[-1].id if len(rows) > limit and members else None)

    async def set_member_status(self, member_id: int, status: str) -> Member | None:
        row = await self._fetchrow(f"UPDATE members SET status = $1 WHERE id = $2 RETURNING {MEMBER_COLUMNS}",
                                   status, member_id)
        return member(row) if row else None

    async def set_member_role(self, member_id: int, role: str) -> Member | None:
        row = await self._fetchrow(f"UPDATE members SET role = $1 WHERE id = $2 RETURNING {MEMBER_COLUMNS}",
                                   role, member_id)
        return member(row) if row else None

    async def join_links(self, limit: int) -> list[JoinLink]:
        rows = await self._fetch(
            "SELECT j.token_hash, j.created_at, j.expires_at, j.max_uses, j.uses, j.revoked_at, m.name "
            "FROM join_links j LEFT JOIN members m ON m.id = j.created_by "
            "ORDER BY j.created_at DESC LIMIT $1", limit)
        return [JoinLink(r[0], r[1], r[2], int(r[3]), int(r[4]), r[5], r[6]) for r in rows]

    async def create_password_reset(self, token_hash: str, member_id: int, now: str, expires_at: str) -> None:
        await self._fetch(
            "INSERT INTO password_resets (token_hash, member_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            token_hash, member_id, now, expires_at)

    async def password_reset_member(self, token_hash: str, now: str) -> Member | None:
        row = await self._fetchrow(
            f"SELECT {_M_COLUMNS} FROM password_resets r JOIN members m ON m.id = r.member_id "
            "WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2 AND m.status = 'active'",
            token_hash, now)
        return member(row) if row else None

    async def use_password_reset(self, token_hash: str, now: str) -> int | None:
        # One statement: two tabs submitting the same link cannot both use it.
        row = await self._fetchrow(
            "UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL "
            "AND expires_at > $1 RETURNING member_id", now, token_hash)
        return int(row[0]) if row else None
