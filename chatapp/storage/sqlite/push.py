"""Web Push subscriptions on SQLite (what they are for: :mod:`chatapp.push`; the schema and
why a subscription goes with its login: ``migrations/0014_push.sql``)."""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from ..records import PushSubscription
from .connection import SQLiteBase


class PushMixin(SQLiteBase):
    async def save_push_subscription(self, member_id: int, session_hash: str, endpoint: str, p256dh: str,
                                     auth: str, now: str, keep: int) -> None:
        # A page confirms its subscription on every load: when nothing changed, the upsert's
        # WHERE leaves the row alone (no failure count reset, no row rewritten).
        await self._write(
            "INSERT INTO push_subscriptions (member_id, endpoint, p256dh, auth, session_hash, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (endpoint) DO UPDATE SET member_id = excluded.member_id, p256dh = excluded.p256dh, "
            "auth = excluded.auth, session_hash = excluded.session_hash, failures = 0 "
            "WHERE member_id IS NOT excluded.member_id OR p256dh IS NOT excluded.p256dh "
            "OR auth IS NOT excluded.auth OR session_hash IS NOT excluded.session_hash",
            (member_id, endpoint, p256dh, auth, session_hash, now))
        # A bound on what one account can make the server send per notification.
        await self._write(
            "DELETE FROM push_subscriptions WHERE member_id = ? AND id NOT IN "
            "(SELECT id FROM push_subscriptions WHERE member_id = ? ORDER BY id DESC LIMIT ?)",
            (member_id, member_id, keep))

    async def delete_push_subscription(self, member_id: int, endpoint: str) -> bool:
        rows = await self._write(
            "DELETE FROM push_subscriptions WHERE endpoint = ? AND member_id = ? RETURNING 1", (endpoint, member_id))
        return bool(rows)

    async def push_subscriptions(self, member_ids: Iterable[int], now: str) -> list[PushSubscription]:
        # The session must still be this member's and unexpired: a login that has merely
        # lapsed (its row not swept yet) notifies no more than a deleted one.
        rows = await self._read(
            "SELECT p.id, p.member_id, p.endpoint, p.p256dh, p.auth FROM push_subscriptions p "
            "JOIN members m ON m.id = p.member_id "
            "JOIN sessions s ON s.id_hash = p.session_hash "
            "WHERE p.member_id IN (SELECT value FROM json_each(?)) AND m.status = 'active' "
            "AND s.kind = 'member' AND s.subject = CAST(p.member_id AS TEXT) AND s.expires_at > ? "
            "ORDER BY p.id",
            (orjson.dumps(sorted(set(member_ids))).decode("ascii"), now))
        return [PushSubscription(int(r[0]), int(r[1]), r[2], r[3], r[4]) for r in rows]

    async def push_delivered(self, subscription_id: int, now: str) -> None:
        await self._write("UPDATE push_subscriptions SET last_success = ?, failures = 0 WHERE id = ?",
                          (now, subscription_id))

    async def push_failed(self, subscription_id: int, drop_after: int) -> bool:
        dropped = await self._write(
            "DELETE FROM push_subscriptions WHERE id = ? AND failures + 1 >= ? RETURNING 1",
            (subscription_id, drop_after))
        if dropped:
            return True
        await self._write("UPDATE push_subscriptions SET failures = failures + 1 WHERE id = ?", (subscription_id,))
        return False

    async def drop_push_subscription(self, subscription_id: int) -> None:
        await self._write("DELETE FROM push_subscriptions WHERE id = ?", (subscription_id,))
