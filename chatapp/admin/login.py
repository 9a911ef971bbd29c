"""The operator's password, and logging in and out.

The password is ``admin_password`` or, when that is empty, generated at start and logged
once. Wrong passwords count against the client's address (:mod:`chatapp.throttle`); a
right one starts a new server-side session (:mod:`chatapp.sessions`), so the cookie the
browser came with, and any copy of it, gains nothing. Logging out deletes the session's
record; logging out everywhere deletes every operator session.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets

import aiohttp_jinja2
from aiohttp import web

from .. import sessions
from ..accounts.members import end_everywhere
from ..keys import SETTINGS
from ..netutil import client_addr
from ..redirects import safe_next
from ..throttle import LOGIN_THROTTLE
from .gate import OPERATOR, admin_member, is_operator, login_url
from .pages import flash, page, record, see_other

log = logging.getLogger(__name__)


class OperatorPassword:
    """The operator's password, compared in constant time."""

    def __init__(self, password: str) -> None:
        self.password = password

    def matches(self, candidate: str) -> bool:
        # Hash both sides first so the comparison's time says nothing, not even the length.
        want = hashlib.sha256(self.password.encode("utf-8")).digest()
        got = hashlib.sha256(candidate.encode("utf-8", "surrogatepass")).digest()
        return bool(self.password) and hmac.compare_digest(want, got)


OPERATOR_PASSWORD = web.AppKey("operator_password", OperatorPassword)  # on the admin sub-app


async def make_password(admin: web.Application) -> None:
    """on_startup: without a configured password, make one for this run and say it once."""
    password = admin[OPERATOR_PASSWORD]
    if not password.password:
        password.password = secrets.token_urlsafe(24)
        log.warning("CHATAPP_ADMIN_PASSWORD is not set; the admin password for this run is: %s",
                    password.password)


async def _form(request: web.Request, next_url: str, error: str | None = None,
                status: int = 200) -> web.Response:
    context = await page(request, next=next_url, error=error)
    return aiohttp_jinja2.render_template("admin/login.html", request, context, status=status)


async def login(request: web.Request) -> web.StreamResponse:
    """``GET/POST /admin/login``: the form, and checking it (origin and token: the gate)."""
    if request.method in ("GET", "HEAD"):
        next_url = safe_next(request.query.get("next"))
        if await is_operator(request):
            raise web.HTTPFound(next_url)
        return await _form(request, next_url)
    form = await request.post()
    next_url = safe_next(str(form.get("next") or request.query.get("next") or ""))
    throttle = request.config_dict[LOGIN_THROTTLE]
    addr = client_addr(request, request.config_dict[SETTINGS])
    wait = throttle.retry_after(addr)
    if wait > 0:
        seconds = math.ceil(wait)
        response = await _form(request, next_url, f"Too many wrong passwords. Try again in {seconds} seconds.", 429)
        response.headers["Retry-After"] = str(seconds)
        return response
    if not request.config_dict[OPERATOR_PASSWORD].matches(str(form.get("password", ""))):
        failures = throttle.failed(addr)
        log.warning("wrong admin password from %s (%d in a row)", addr, failures)
        return await _form(request, next_url, "That password is not right.", 401)
    throttle.succeeded(addr)
    await sessions.start(request, OPERATOR)
    log.info("admin logged in from %s", addr)
    await record(request, "login")
    return see_other(next_url)


async def logout(request: web.Request) -> web.StreamResponse:
    """``POST /admin/logout``: end this session, wherever its cookie was copied."""
    await record(request, "logout")
    await sessions.end(request)
    return see_other(str(login_url(request)))


async def logout_everywhere(request: web.Request) -> web.StreamResponse:
    """``POST /admin/logout/everywhere``: end every operator session, this one included
    (for an admin member: every session of their account)."""
    member = await admin_member(request)
    if member is not None:
        await record(request, "logout_everywhere", detail=f"member {member.name}")
        await end_everywhere(request, member)
        await flash(request, "Logged out everywhere.")
        return see_other(str(login_url(request)))
    ended = await sessions.end_all(request, OPERATOR)
    await record(request, "logout_everywhere", detail=f"{ended} session{'' if ended == 1 else 's'}")
    await flash(request, f"Logged out everywhere: {ended} session{'' if ended == 1 else 's'} ended.")
    return see_other(str(login_url(request)))
