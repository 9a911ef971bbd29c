"""Web Push subscriptions on PostgreSQL (as :mod:`..sqlite.push`; the schema and why a
subscription goes with its login: ``migrations/postgres/0014_push.sql``)."""

from __future__ import annotations

from collections.abc import Iterable

from ..records import PushSubscription
from .connection import PostgresBase


class PushMixin(PostgresBase):
    async def save_push_subscription(self, member_id: int, session_hash: str, endpoint: str, p256dh: str,
                                     auth: str, now: str, keep: int) -> None:
        # A page confirms its subscription on every load: when nothing changed, the upsert's
        # WHERE leaves the row alone (no failure count reset, no row rewritten).
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO push_subscriptions (member_id, endpoint, p256dh, auth, session_hash, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) "
                "ON CONFLICT (endpoint) DO UPDATE SET member_id = excluded.member_id, p256dh = excluded.p256dh, "
                "auth = excluded.auth, session_hash = excluded.session_hash, failures = 0 "
                "WHERE (push_subscriptions.member_id, push_subscriptions.p256dh, push_subscriptions.auth, "
                "push_subscriptions.session_hash) IS DISTINCT FROM "
                "(excluded.member_id, excluded.p256dh, excluded.auth, excluded.session_hash)",
                member_id, endpoint, p256dh, auth, session_hash, now)
            # A bound on what one account can make the server send per notification.
            await conn.execute(
                "DELETE FROM push_subscriptions WHERE member_id = $1 AND id NOT IN "
                "(SELECT id FROM push_subscriptions WHERE member_id = $1 ORDER BY id DESC LIMIT $2)",
                member_id, keep)

    async def delete_push_subscription(self, member_id: int, endpoint: str) -> bool:
        rows = await self._fetch(
            "DELETE FROM push_subscriptions WHERE endpoint = $1 AND member_id = $2 RETURNING 1", endpoint, member_id)
        return bool(rows)

    async def push_subscriptions(self, member_ids: Iterable[int], now: str) -> list[PushSubscription]:
        # The session must still be this member's and unexpired.
        rows = await self._fetch(
            "SELECT p.id, p.member_id, p.endpoint, p.p256dh, p.auth FROM push_subscriptions p "
            "JOIN members m ON m.id = p.member_id "
            "JOIN sessions s ON s.id_hash = p.session_hash "
            "WHERE p.member_id = ANY($1::bigint[]) AND m.status = 'active' "
            "AND s.kind = 'member' AND s.subject = p.member_id::text AND s.expires_at > $2 "
            "ORDER BY p.id", sorted(set(member_ids)), now)
        return [PushSubscription(int(r[0]), int(r[1]), r[2], r[3], r[4]) for r in rows]

    async def push_delivered(self, subscription_id: int, now: str) -> None:
        await self._fetch("UPDATE push_subscriptions SET last_success = $1, failures = 0 WHERE id = $2",
                          now, subscription_id)

    async def push_failed(self, subscription_id: int, drop_after: int) -> bool:
        async with self._transaction() as conn:
            dropped = await conn.fetch(
                "DELETE FROM push_subscriptions WHERE id = $1 AND failures + 1 >= $2 RETURNING 1",
                subscription_id, drop_after)
            if dropped:
                return True
            await conn.execute("UPDATE push_subscriptions SET failures = failures + 1 WHERE id = $1",
                               subscription_id)
        return False

    async def drop_push_subscription(self, subscription_id: int) -> None:
        await self._fetch("DELETE FROM push_subscriptions WHERE id = $1", subscription_id)
