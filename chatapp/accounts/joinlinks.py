"""Join links: how people sign up when ``CHATAPP_SIGNUP=invite``.

A link is ``/join/<token>``; the database keeps only the token's SHA-256, so a backup holds
no usable link. A link has an expiry and a number of uses and can be revoked. For now links
are made here (and by tests); the admin's members page will make and revoke them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from ..models import iso_utc
from ..storage import Storage

DEFAULT_VALID_FOR = dt.timedelta(days=7)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def make_join_link(store: Storage, *, valid_for: dt.timedelta = DEFAULT_VALID_FOR, max_uses: int = 1,
                         created_by: int | None = None, now: dt.datetime | None = None) -> str:
    """A new join link's token (what goes after ``/join/``)."""
    now = now or dt.datetime.now(dt.UTC)
    token = secrets.token_urlsafe(24)
    await store.create_join_link(token_hash(token), iso_utc(now), iso_utc(now + valid_for), max_uses, created_by)
    return token
