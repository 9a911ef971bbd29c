"""Members and join links on SQLite (what they are for: :mod:`chatapp.accounts`)."""

from __future__ import annotations

from ..records import Member
from .connection import Row, SQLiteBase

_MEMBER_COLUMNS = "id, name, name_key, role, status, created_at, last_seen_at, session_version"


def _member(r: Row) -> Member:
    return Member(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]))


class MembersMixin(SQLiteBase):
    async def create_member(self, name: str, name_key: str, password_hash: str, now: str,
                            role: str = "member") -> Member | None:
        # The UNIQUE name_key decides between two signups racing for one name.
        rows = await self._write(
            "INSERT INTO members (name, name_key, password_hash, role, created_at, last_seen_at) "
            f"VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name_key) DO NOTHING RETURNING {_MEMBER_COLUMNS}",
            (name, name_key, password_hash, role, now, now))
        return _member(rows[0]) if rows else None

    async def member(self, member_id: int) -> Member | None:
        rows = await self._read(f"SELECT {_MEMBER_COLUMNS} FROM members WHERE id = ?", (member_id,))
        return _member(rows[0]) if rows else None

    async def member_login(self, name_key: str) -> tuple[Member, str] | None:
        rows = await self._read(
            f"SELECT {_MEMBER_COLUMNS}, password_hash FROM members WHERE name_key = ?", (name_key,))
        return (_member(rows[0]), rows[0][8]) if rows else None

    async def member_name_keys(self, after_id: int = 0) -> list[tuple[int, str]]:
        rows = await self._read("SELECT id, name_key FROM members WHERE id > ? ORDER BY id", (after_id,))
        return [(int(r[0]), r[1]) for r in rows]

    async def set_password_hash(self, member_id: int, password_hash: str) -> None:
        await self._write("UPDATE members SET password_hash = ? WHERE id = ?", (password_hash, member_id))

    async def bump_session_version(self, member_id: int) -> int:
        rows = await self._write(
            "UPDATE members SET session_version = session_version + 1 WHERE id = ? RETURNING session_version",
            (member_id,))
        await self._write("DELETE FROM sessions WHERE kind = 'member' AND subject = ?", (str(member_id),))
        return int(rows[0][0]) if rows else 0

    async def member_seen(self, member_id: int, now: str) -> None:
        await self._write("UPDATE members SET last_seen_at = ? WHERE id = ?", (now, member_id))

    async def create_join_link(self, token_hash: str, now: str, expires_at: str, max_uses: int,
                               created_by: int | None = None) -> None:
        await self._write(
            "INSERT INTO join_links (token_hash, created_by, created_at, expires_at, max_uses) "
            "VALUES (?, ?, ?, ?, ?)",
            (token_hash, created_by, now, expires_at, max_uses))

    async def join_link_usable(self, token_hash: str, now: str) -> bool:
        rows = await self._read(
            "SELECT 1 FROM join_links WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > ? "
            "AND uses < max_uses", (token_hash, now))
        return bool(rows)

    async def use_join_link(self, token_hash: str, now: str) -> bool:
        # One statement: two signups racing for a link's last use cannot both have it.
        rows = await self._write(
            "UPDATE join_links SET uses = uses + 1 WHERE token_hash = ? AND revoked_at IS NULL "
            "AND expires_at > ? AND uses < max_uses RETURNING 1", (token_hash, now))
        return bool(rows)

    async def unuse_join_link(self, token_hash: str) -> None:
        await self._write("UPDATE join_links SET uses = max(uses - 1, 0) WHERE token_hash = ?", (token_hash,))

    async def revoke_join_link(self, token_hash: str, now: str) -> bool:
        rows = await self._write(
            "UPDATE join_links SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL RETURNING 1",
            (now, token_hash))
        return bool(rows)
