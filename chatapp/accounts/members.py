"""Who a request's member is, and starting and ending members' sessions.

A member's session is an ordinary server-side session (:mod:`chatapp.sessions`) of kind
``member`` whose subject is the member's id; the cookie also carries the member's
``session_version`` as it was at login. :func:`current_member` accepts the session only if
its record is live, the account is active and the version still matches, so "log out
everywhere", a password change (and, with the admin's members page, a deactivation) end
every other session at once: :func:`end_everywhere` raises the version, deletes the
records and closes the member's open sockets with :data:`SESSION_ENDED`.
"""

from __future__ import annotations

import datetime as dt
import logging

from aiohttp import web

from .. import sessions
from ..cluster.node import SESSIONS_ENDED, announce
from ..keys import HUB, STORE
from ..models import iso_utc
from ..storage import Member
from .names import MemberNames
from .passwords import Passwords

log = logging.getLogger(__name__)

KIND = "member"
# The close code of a member's sockets when their sessions end (docs/protocol.md): the
# page says so and sends the reader to log in, instead of reconnecting.
SESSION_ENDED = 4001
SEEN_EVERY = dt.timedelta(minutes=5)  # last_seen_at is written at most this often

MEMBER_NAMES = web.AppKey("member_names", MemberNames)
PASSWORDS = web.AppKey("passwords", Passwords)
_MEMBER: web.RequestKey[Member | None] = web.RequestKey("member")


def principal(member: Member) -> sessions.Principal:
    return sessions.Principal(KIND, str(member.id))


async def current_member(request: web.Request) -> Member | None:
    """The active member this request's session belongs to, or None (a guest)."""
    if sessions.COOKIE_NAME not in request.cookies:
        return None  # no cookie, no account: and nothing kept on a request a socket holds
    if _MEMBER in request:
        return request[_MEMBER]
    member = None
    record = await sessions.current(request)
    if record is not None and record.kind == KIND and record.subject.isdigit():
        found = await sessions.member_row(request)  # read with the session: one query
        if found is None or found.id != int(record.subject):
            found = await request.config_dict[STORE].member(int(record.subject))
        version = (await sessions.cookie(request)).get("sv")
        if found is not None and found.status == "active" and version == found.session_version:
            member = found
            await _seen(request, member)
    request[_MEMBER] = member
    return member


async def _seen(request: web.Request, member: Member) -> None:
    now = request.config_dict[sessions.SESSIONS].clock()
    last = member.last_seen_at
    if last is None or now - dt.datetime.fromisoformat(last.replace("Z", "+00:00")) >= SEEN_EVERY:
        await request.config_dict[STORE].member_seen(member.id, iso_utc(now))


async def log_in(request: web.Request, member: Member) -> None:
    """Start a fresh session for ``member`` (a new id: the browser's old cookie gains nothing)."""
    await sessions.start(request, principal(member))
    (await sessions.cookie(request))["sv"] = member.session_version
    request[_MEMBER] = member
    await request.config_dict[STORE].member_seen(member.id, iso_utc(request.config_dict[sessions.SESSIONS].clock()))


async def log_out(request: web.Request) -> None:
    await sessions.end(request)
    request[_MEMBER] = None


async def end_everywhere(request: web.Request, member: Member) -> Member:
    """End every session and close every socket of ``member``'s, this browser's included;
    the member as they are now (with the new session version)."""
    version = await request.config_dict[STORE].bump_session_version(member.id)
    closed = request.config_dict[HUB].close_member(member.id, SESSION_ENDED, b"session ended")
    await announce(request.config_dict, "", SESSIONS_ENDED, member.id)  # their sockets on other nodes
    (await sessions.cookie(request)).invalidate()
    request[_MEMBER] = None
    log.info("member #%d: every session ended (version %d, %d sockets closed)", member.id, version, closed)
    return member._replace(session_version=version)
