"""One-time password-reset links: ``/reset/<token>``, made by an admin (``/admin/members``)
or the operator's ``chatapp users reset NAME``.

Like a join link, the database keeps only the token's SHA-256. A link works once, for
:data:`RESET_VALID_FOR`, and only while the account is active. Setting the new password
ends every session of the account (open sockets included) and logs this browser in.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from aiohttp import web

from .. import csrf, sessions
from ..keys import STORE
from ..models import iso_utc
from ..storage import Storage
from .joinlinks import token_hash
from .members import PASSWORDS, end_everywhere, log_in
from .passwords import password_problem
from .views import _render, see_other

log = logging.getLogger(__name__)

RESET_VALID_FOR = dt.timedelta(hours=24)
TOKEN_PATTERN = "[A-Za-z0-9_-]{1,64}"


async def make_reset_link(store: Storage, member_id: int, *, now: dt.datetime | None = None) -> str:
    """A new reset link's token (what goes after ``/reset/``)."""
    now = now or dt.datetime.now(dt.UTC)
    token = secrets.token_urlsafe(24)
    await store.create_password_reset(token_hash(token), member_id, iso_utc(now), iso_utc(now + RESET_VALID_FOR))
    return token


async def _form(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    context.setdefault("member", None)
    return await _render(request, "accounts/reset.html", status, **context)


async def reset(request: web.Request) -> web.StreamResponse:
    """``GET/POST /reset/<token>``: the form for a new password, and setting it."""
    store = request.config_dict[STORE]
    token = request.match_info["token"]
    now = iso_utc(request.config_dict[sessions.SESSIONS].clock())
    member = await store.password_reset_member(token_hash(token), now)
    gone = "This reset link has expired or been used already. Ask an admin for a new one."
    if request.method in ("GET", "HEAD"):
        return await _form(request, 200 if member else 410, member=member, closed=None if member else gone)
    await csrf.check(request)
    if member is None:
        return await _form(request, 410, closed=gone)
    password = str((await request.post()).get("password", ""))
    problem = password_problem(password)
    if problem:
        return await _form(request, 400, member=member, error=problem)
    password_hash = await request.config_dict[PASSWORDS].hash(password)
    if await store.use_password_reset(token_hash(token), now) != member.id:
        return await _form(request, 410, closed=gone)
    await store.set_password_hash(member.id, password_hash)
    member = await end_everywhere(request, member)
    await log_in(request, member)
    log.info("member #%d set a new password through a reset link", member.id)
    (await sessions.cookie(request))["flash"] = "Your new password is set. Every other session was logged out."
    return see_other(str(request.app.router["account"].url_for()))
