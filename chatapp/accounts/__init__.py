"""Accounts: members with a name and a password, beside guests, and who may come in.

- :mod:`.names`: folding names (case, compatibility forms, confusables) and the set of
  names members own, which guests may not use;
- :mod:`.passwords`: argon2id hashing, with rehash on login;
- :mod:`.members`: the member a request's session belongs to, logging in, and ending every
  session of one member (their open sockets included);
- :mod:`.views`: ``/signup``, ``/join/<token>``, ``/login``, ``/logout`` and ``/account``;
- :mod:`.joinlinks`: the links ``CHATAPP_SIGNUP=invite`` signs people up through;
- :mod:`.resets`: one-time password-reset links (``/reset/<token>``);
- :mod:`.users`: ``chatapp users create|list|reset``, on the database file directly;
- :mod:`.access`: ``CHATAPP_ACCESS=members``, the one middleware that keeps guests out.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from ..keys import STORE
from ..ratelimit import PerAddress
from ..storage import Member, StorageError
from . import resets, views
from .access import members_only
from .members import MEMBER_NAMES, PASSWORDS, SESSION_ENDED, current_member
from .names import MemberNames
from .passwords import Passwords

log = logging.getLogger(__name__)

# Who is looking at the page being rendered, for the top bar of every page (base.html):
# set by :func:`viewer_middleware` in the request's own task, read by the ``viewer`` global.
_VIEWER: contextvars.ContextVar[Member | None] = contextvars.ContextVar("viewer", default=None)


def viewer() -> Member | None:
    return _VIEWER.get()


@web.middleware
def viewer_middleware(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Awaitable[web.StreamResponse]:
    # Only pages need it, and only browsers that have a session cookie cost a lookup. The
    # rest get the handler's own coroutine back: no frame held for a socket's lifetime.
    if request.path.startswith(("/static/", "/api/", "/ws/")):
        return handler(request)
    return _with_viewer(request, handler)


async def _with_viewer(request: web.Request,
                       handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    _VIEWER.set(await current_member(request))
    return await handler(request)


NAMES_REFRESH = 5.0  # seconds between looks for members made outside this process


async def _load_names(app: web.Application) -> AsyncIterator[None]:
    """Load every member's name key at start, then, every few seconds, the keys of members
    made since by another process (``chatapp users create`` beside a running server, or
    another node): one indexed query for the new rows only."""
    names, store = app[MEMBER_NAMES], app[STORE]
    names.load(await store.member_name_keys())
    log.info("%d members", len(names))

    async def refresh() -> None:
        while True:
            await asyncio.sleep(NAMES_REFRESH)  # a periodic look: no event crosses processes
            try:
                names.load(await store.member_name_keys(names.last_id))
            except StorageError as exc:
                log.warning("could not refresh member names: %s", exc)

    task = asyncio.create_task(refresh(), name="chatapp-member-names")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def setup_accounts(app: web.Application) -> None:
    """Keys, the start-up step, routes and middlewares; after the database's cleanup context
    and the session middleware, before the main routes."""
    app[MEMBER_NAMES] = MemberNames()
    app[PASSWORDS] = Passwords()
    app[views.SIGNUPS] = PerAddress(1 / views.SIGNUP_EVERY, views.SIGNUP_BURST)
    app.cleanup_ctx.append(_load_names)
    app.middlewares.append(members_only)
    app.middlewares.append(viewer_middleware)
    r = app.router
    for path, handler, name in (("/signup", views.signup, "signup"), ("/login", views.login, "login"),
                                (r"/join/{token:[A-Za-z0-9_-]{1,64}}", views.join, "join"),
                                (r"/reset/{token:" + resets.TOKEN_PATTERN + "}", resets.reset, "reset")):
        resource = r.add_resource(path, name=name)
        for method in ("GET", "POST"):
            resource.add_route(method, handler)
    r.add_post("/logout", views.logout, name="logout")
    r.add_get("/account", views.account, name="account")
    r.add_post("/account/password", views.change_password, name="account_password")
    r.add_post("/account/logout-everywhere", views.logout_everywhere, name="account_logout_everywhere")


__all__ = ["MEMBER_NAMES", "PASSWORDS", "SESSION_ENDED", "current_member", "setup_accounts", "viewer"]
