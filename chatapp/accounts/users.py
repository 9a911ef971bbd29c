"""``chatapp users create|list|reset``: the operator's member commands, on the database file.

Like ``export`` and ``import`` (:mod:`chatapp.archive`), they open the database through
:mod:`chatapp.storage` on their own and work beside a running server. A server that is
running learns a new member's name (the guard against guests using it) at its next start;
logging in works at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from .. import protocol
from ..models import iso_utc
from ..storage import Member, Storage, StorageError, open_storage
from .names import fold
from .passwords import Passwords, password_problem
from .resets import make_reset_link

BUSY_TIMEOUT_MS = 10_000


class UsersError(Exception):
    """The command cannot go on; the message says why, in one line."""


async def _open(db: str) -> Storage:
    try:
        return await open_storage(db, busy_timeout_ms=BUSY_TIMEOUT_MS)
    except StorageError as exc:
        raise UsersError(str(exc)) from None


def create(db: str, raw_name: str, password: str, *, admin: bool = False) -> Member:
    try:
        name = protocol.clean_user(raw_name)
    except protocol.ProtocolError as exc:
        raise UsersError(f"not a valid name: {exc.detail}") from None
    if fold(name) == fold(protocol.DEFAULT_USER):
        raise UsersError(f"“{name}” is what unnamed guests are called; choose another name")
    problem = password_problem(password)
    if problem:
        raise UsersError(problem)
    return asyncio.run(_create(db, name, password, "admin" if admin else "member"))


async def _create(db: str, name: str, password: str, role: str) -> Member:
    store = await _open(db)
    try:
        password_hash = await Passwords().hash(password)
        member = await store.create_member(name, fold(name), password_hash, iso_utc(dt.datetime.now(dt.UTC)),
                                           role=role)
    finally:
        await store.close()
    if member is None:
        raise UsersError(f"the name “{name}” is taken (or looks too much like a member's name)")
    return member


def listing(db: str) -> str:
    """Every member as a table: name, role, status, joined, last seen."""
    return asyncio.run(_listing(db))


async def _listing(db: str) -> str:
    store = await _open(db)
    members: list[Member] = []
    try:
        before = None
        while True:
            page, before = await store.members_page("", before, 500)
            members += page
            if before is None:
                break
    finally:
        await store.close()
    rows = [("NAME", "ROLE", "STATUS", "JOINED", "LAST SEEN")]
    rows += [(m.name, m.role, m.status, m.created_at[:16].replace("T", " "),
              (m.last_seen_at or "never")[:16].replace("T", " ")) for m in reversed(members)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows)


def reset(db: str, raw_name: str, origin: str) -> str:
    """A one-time password-reset URL for the member named ``raw_name``."""
    return asyncio.run(_reset(db, raw_name, origin.rstrip("/")))


async def _reset(db: str, raw_name: str, origin: str) -> str:
    store = await _open(db)
    try:
        found = await store.member_login(fold(raw_name.strip()))
        if found is None:
            raise UsersError(f"there is no member named {raw_name!r}")
        if found[0].status != "active":
            raise UsersError(f"{found[0].name} is deactivated; reactivate the account in /admin/members first")
        token = await make_reset_link(store, found[0].id)
    finally:
        await store.close()
    return f"{origin}/reset/{token}"
