"""The account pages: signing up (openly or through a join link), logging in and out, and
``/account`` (changing the password, logging out everywhere).

Every POST is checked for origin and CSRF token (:mod:`chatapp.csrf`) before anything else.
Wrong passwords are throttled per address (shared with the admin's login) and per account
(:mod:`chatapp.throttle`); a name without an account costs as much to check as one with.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from .. import csrf, protocol, sessions
from ..keys import SETTINGS, STORE
from ..models import iso_utc
from ..netutil import client_addr
from ..ratelimit import PerAddress
from ..redirects import safe_next
from ..throttle import LOGIN_THROTTLE
from .joinlinks import token_hash
from .members import MEMBER_NAMES, PASSWORDS, current_member, end_everywhere, log_in, log_out
from .names import fold
from .passwords import password_problem

log = logging.getLogger(__name__)

# New accounts one address may make: SIGNUP_BURST at once, then one per SIGNUP_EVERY seconds.
SIGNUP_BURST = 10
SIGNUP_EVERY = 30.0
SIGNUPS = web.AppKey("signups", PerAddress)

# Every unnamed guest's name. Folded when first needed, not at import: folding loads the
# confusables data (~8 MiB), which a server nobody signs up on never needs.
RESERVED = (protocol.DEFAULT_USER,)


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


async def _render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    cookie = await sessions.cookie(request)
    context = {"csrf_token": await csrf.token(request), "flash": cookie.pop("flash", None),
               "error": None, **context}
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _next(request: web.Request, form: Any = None) -> str:
    raw = (form.get("next") if form is not None else None) or request.query.get("next")
    return safe_next(str(raw) if raw else None, default="/")


# ---- signing up ----

async def _signup_form(request: web.Request, *, join: str | None, status: int = 200, **context: Any) -> web.Response:
    settings = request.config_dict[SETTINGS]
    context.setdefault("closed", None)
    return await _render(request, "accounts/signup.html", status, join=join, mode=settings.signup,
                         next=_next(request), name=context.pop("name", ""), **context)


async def signup(request: web.Request) -> web.StreamResponse:
    """``GET/POST /signup``: anyone may, when ``CHATAPP_SIGNUP=open``."""
    return await _signup(request, join=None)


async def join(request: web.Request) -> web.StreamResponse:
    """``GET/POST /join/<token>``: the signup form, for a join link's holder."""
    return await _signup(request, join=request.match_info["token"])


async def _signup(request: web.Request, join: str | None) -> web.StreamResponse:
    settings, store = request.config_dict[SETTINGS], request.config_dict[STORE]
    now = iso_utc(request.config_dict[sessions.SESSIONS].clock())
    closed = None
    if settings.signup == "closed":
        closed = "New accounts are made by this server's admins only."
    elif join is not None and not await store.join_link_usable(token_hash(join), now):
        closed = "This join link has expired, been used up or been revoked. Ask for a new one."
    elif join is None and settings.signup == "invite":
        closed = "Joining this server needs an invitation: ask an admin for a join link."
    if request.method in ("GET", "HEAD"):
        if await current_member(request) is not None:
            raise web.HTTPFound(_next(request))
        return await _signup_form(request, join=join, closed=closed, status=403 if closed else 200)
    await csrf.check(request)
    if closed:
        return await _signup_form(request, join=join, closed=closed, status=403)
    if not request.config_dict[SIGNUPS].allow(client_addr(request, settings)):
        response = await _signup_form(request, join=join, status=429,
                                      error="Too many new accounts from your address. Try again in a minute.")
        response.headers["Retry-After"] = str(int(SIGNUP_EVERY))
        return response
    form = await request.post()
    raw_name, password = str(form.get("name", "")), str(form.get("password", ""))
    try:
        name = protocol.clean_user(raw_name)
    except protocol.ProtocolError as exc:
        return await _signup_form(request, join=join, error=exc.detail, name=raw_name, status=400)
    key = fold(name)
    problem = password_problem(password)
    if key in {fold(n) for n in RESERVED}:
        problem = f"“{name}” is what unnamed guests are called; choose another name."
    if problem:
        return await _signup_form(request, join=join, error=problem, name=name, status=400)
    if join is not None and not await store.use_join_link(token_hash(join), now):
        return await _signup_form(request, join=join, closed="This join link was used up meanwhile.", status=403)
    member = await store.create_member(name, key, await request.config_dict[PASSWORDS].hash(password), now)
    if member is None:
        if join is not None:
            await store.unuse_join_link(token_hash(join))
        return await _signup_form(request, join=join, name=name, status=409,
                                  error=f"The name “{name}” is taken (or looks too much like a member's name). "
                                        "Choose another.")
    request.config_dict[MEMBER_NAMES].add(member.name_key)
    log.info("new member #%d %r from %s", member.id, member.name, client_addr(request, settings))
    await log_in(request, member)
    return see_other(_next(request, form))


# ---- logging in and out ----

async def _login_form(request: web.Request, next_url: str, status: int = 200, **context: Any) -> web.Response:
    return await _render(request, "accounts/login.html", status, next=next_url,
                         name=context.pop("name", ""), mode=request.config_dict[SETTINGS].signup, **context)


async def login(request: web.Request) -> web.StreamResponse:
    """``GET/POST /login``: a right name and password start a new session."""
    if request.method in ("GET", "HEAD"):
        if await current_member(request) is not None:
            raise web.HTTPFound(_next(request))
        return await _login_form(request, _next(request))
    await csrf.check(request)
    form = await request.post()
    next_url = _next(request, form)
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    key = fold(name)[:4 * protocol.MAX_USER]
    throttle = request.config_dict[LOGIN_THROTTLE]
    addr = client_addr(request, request.config_dict[SETTINGS])
    account = "member:" + key
    wait = max(throttle.retry_after(addr), throttle.retry_after(account))
    if wait > 0:
        seconds = math.ceil(wait)
        response = await _login_form(request, next_url, 429, name=name,
                                     error=f"Too many wrong passwords. Try again in {seconds} seconds.")
        response.headers["Retry-After"] = str(seconds)
        return response
    store, passwords = request.config_dict[STORE], request.config_dict[PASSWORDS]
    found = await store.member_login(key) if name else None
    ok, rehash = await passwords.verify(found[1] if found else None, password)
    if found is not None and ok and found[0].status != "active":
        # Only someone who knows the password learns the account exists and is closed.
        return await _login_form(request, next_url, 403, name=name,
                                 error="This account has been deactivated by an admin, so it cannot log in.")
    if found is None or not ok:
        throttle.failed(addr)
        failures = throttle.failed(account)
        log.warning("wrong member password for %r from %s (%d in a row)", name[:64], addr, failures)
        return await _login_form(request, next_url, 401, name=name,
                                 error="That name and password do not match an account.")
    member = found[0]
    throttle.succeeded(addr)
    throttle.succeeded(account)
    if rehash:
        await store.set_password_hash(member.id, await passwords.hash(password))
        log.info("member #%d: password hashed again with the current parameters", member.id)
    await log_in(request, member)
    return see_other(next_url)


async def logout(request: web.Request) -> web.StreamResponse:
    """``POST /logout``: end this session, wherever its cookie was copied."""
    await csrf.check(request)
    await log_out(request)
    return see_other("/")


# ---- the account page ----

async def _require_member(request: web.Request) -> Any:
    member = await current_member(request)
    if member is None:
        raise web.HTTPFound(request.app.router["login"].url_for().with_query(next=request.path))
    return member


async def account(request: web.Request) -> web.StreamResponse:
    """``GET /account``: who you are, a new password, logging out everywhere."""
    member = await _require_member(request)
    return await _render(request, "accounts/account.html", member=member)


async def change_password(request: web.Request) -> web.StreamResponse:
    """``POST /account/password``: every other session ends; this browser stays logged in."""
    await csrf.check(request)
    member = await _require_member(request)
    form = await request.post()
    current, new = str(form.get("current_password", "")), str(form.get("new_password", ""))
    store, passwords = request.config_dict[STORE], request.config_dict[PASSWORDS]
    found = await store.member_login(member.name_key)
    ok, _ = await passwords.verify(found[1] if found else None, current)
    error = None if ok else "Your current password is not right."
    error = error or password_problem(new)
    if error:
        return await _render(request, "accounts/account.html", 400, member=member, error=error)
    await store.set_password_hash(member.id, await passwords.hash(new))
    member = await end_everywhere(request, member)
    await log_in(request, member)
    (await sessions.cookie(request))["flash"] = "Password changed. Every other session was logged out."
    return see_other(str(request.app.router["account"].url_for()))


async def logout_everywhere(request: web.Request) -> web.StreamResponse:
    """``POST /account/logout-everywhere``: every session of this account ends, this one too."""
    await csrf.check(request)
    member = await _require_member(request)
    await end_everywhere(request, member)
    await log_out(request)
    (await sessions.cookie(request))["flash"] = "You were logged out everywhere."
    return see_other(str(request.app.router["login"].url_for()))
